//! The image model: registry manifests and indexes, image configs and their history, and the
//! bounded tar header reader that every archive and layer is read with.

pub mod oci;
pub mod reference;
pub mod tarstream;
