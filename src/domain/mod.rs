//! Domain vocabulary shared by services and the GraphQL layer.

pub mod enums;
pub mod money;
