//! One module per subcommand.

pub(crate) mod check;
pub(crate) mod config;
pub(crate) mod enroll;
pub(crate) mod generate;
pub(crate) mod policy;
pub(crate) mod run;
pub(crate) mod status;
