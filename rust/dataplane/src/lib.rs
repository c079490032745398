//! DSMIPv6 data plane: binding cache and ESP (pure Rust, no Python).
