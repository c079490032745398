//! `dsmip6._core`: the only crate that links pyo3 (STYLE §4.2).
//!
//! Each submodule of the Python extension lives in its own file and exposes
//! `register(parent)`, which builds `_core.<name>` and attaches it. Error
//! conversions live in `errors.rs` only (STYLE §4.4).

use pyo3::prelude::*;

mod aka;
mod dataplane;
mod errors;
mod esp;
mod ikefast;
mod mhfast;
mod wire;

/// Create a submodule `_core.<name>`, let `fill` add its members, attach it to
/// `parent` and register it in `sys.modules` so `import dsmip6._core.<name>` works.
pub(crate) fn add_submodule(
    parent: &Bound<'_, PyModule>,
    name: &str,
    fill: impl FnOnce(&Bound<'_, PyModule>) -> PyResult<()>,
) -> PyResult<()> {
    let py = parent.py();
    let m = PyModule::new(py, name)?;
    fill(&m)?;
    parent.add_submodule(&m)?;
    let full = format!("dsmip6._core.{name}");
    py.import("sys")?.getattr("modules")?.set_item(full, &m)?;
    Ok(())
}

#[pymodule(gil_used = false)]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add(
        "build_profile",
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
    )?;
    add_submodule(m, "wire", wire::register)?;
    add_submodule(m, "dataplane", dataplane::register)?;
    add_submodule(m, "esp", esp::register)?;
    add_submodule(m, "mhfast", mhfast::register)?;
    add_submodule(m, "aka", aka::register)?;
    add_submodule(m, "ikefast", ikefast::register)?;
    Ok(())
}
