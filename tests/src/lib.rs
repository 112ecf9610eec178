//! End-to-end tests of agent and collector together.
