//! Typed views of each category's `properties`, read in one pass over its members.

pub mod audit;
pub mod graph;
pub mod provisioning;
pub mod risk;
pub mod signin;

pub use audit::{Audit, Initiator, ModifiedProperty, Target};
pub use graph::GraphActivity;
pub use provisioning::{Identity, Party, Provisioning};
pub use risk::Risk;
pub use signin::{ConditionalAccessPolicy, Device, Location, SignIn};
