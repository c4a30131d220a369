//! Small inputs that must not cost unbounded time or memory..
