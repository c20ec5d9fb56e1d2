pub use crate::proto::encode::{nstring, string};
