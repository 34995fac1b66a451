//! Sample programs; see the files next to this one. Run one with
//! `cargo run -p cache-examples --example basic -- tcp://127.0.0.1:7000`.
