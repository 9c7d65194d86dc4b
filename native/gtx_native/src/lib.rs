//! `gtx_native`: the aggregator's per-reading hot paths, off the GIL.
//!
//! * `parse_envelopes(raws)` — one result per message: `(meter, payload, sig, reading)`
//!   when the reference parser would accept it, else `None` (the caller asks the
//!   reference parser, which owns every reason code).
//! * `verify_batch(items)` — `(message, signature, public_key)` triples, one verdict
//!   code per item: 0 valid, 1 bad signature, 2 bad public key.
//!
//! Both release the GIL while they work, so Python threads run them on every core.

mod parse;
mod verify;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};

use parse::FieldValue;

#[pyfunction]
fn parse_envelopes<'py>(py: Python<'py>, raws: Vec<Bound<'py, PyBytes>>) -> PyResult<Bound<'py, PyList>> {
    let slices: Vec<&[u8]> = raws.iter().map(|b| b.as_bytes()).collect();
    let parsed: Vec<Option<parse::Parsed>> = py.allow_threads(|| slices.iter().map(|raw| parse::parse(raw)).collect());
    let out = PyList::empty(py);
    for item in parsed {
        match item {
            None => out.append(py.None())?,
            Some(p) => {
                let reading = PyDict::new(py);
                for (name, value) in &p.fields {
                    match value {
                        FieldValue::Int(v) => reading.set_item(*name, *v)?,
                        FieldValue::Str(s) => reading.set_item(*name, s.as_str())?,
                    }
                }
                let tuple = (p.meter, PyBytes::new(py, &p.payload), PyBytes::new(py, &p.signature), reading);
                out.append(tuple)?;
            }
        }
    }
    Ok(out)
}

#[pyfunction]
fn verify_batch(py: Python<'_>, items: Vec<(Bound<'_, PyBytes>, Bound<'_, PyBytes>, Bound<'_, PyBytes>)>) -> Vec<u8> {
    let slices: Vec<(&[u8], &[u8], &[u8])> =
        items.iter().map(|(m, s, k)| (m.as_bytes(), s.as_bytes(), k.as_bytes())).collect();
    py.allow_threads(|| verify::verify_many(&slices))
}

#[pymodule]
fn gtx_native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(parse_envelopes, m)?)?;
    m.add_function(wrap_pyfunction!(verify_batch, m)?)?;
    m.add("MAX_WIRE_BYTES", parse::MAX_WIRE_BYTES)?;
    m.add("OK", verify::OK)?;
    m.add("BAD_SIGNATURE", verify::BAD_SIGNATURE)?;
    m.add("BAD_PUBLIC_KEY", verify::BAD_PUBLIC_KEY)?;
    Ok(())
}
