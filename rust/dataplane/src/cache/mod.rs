//! Binding cache (placeholder, filled below).
