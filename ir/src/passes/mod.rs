//! Graph-to-graph passes, one file each, all with the signature of [`Pass`].
pub mod place;
