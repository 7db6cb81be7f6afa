//! Authentication building blocks. Password hashing now; tokens arrive with the auth issue.

pub mod password;
