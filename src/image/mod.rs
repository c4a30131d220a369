//! The image model: digests and references (one type each), registry manifests and indexes,
//! image configs and their history, the bounded tar header reader that every archive and layer
//! is read with, the clamp of a built image's file times, the encoders that compress the layers
//! it writes, the canonical form of an image config,
//! the tie of a locked index to the locked manifests, and the documents (lock, SBOMs) attached
//! to an image as referrers.

pub mod annotations;
pub mod archive;
pub mod canonical;
pub mod digest;
pub mod encoder;
pub mod layer;
pub mod oci;
pub mod platform;
pub mod reference;
pub mod referrer;
pub mod retime;
pub mod tarstream;
pub mod tie;
