//! # trrg-python: the `trrg` Python package's native module (`trrg._native`)
//!
//! PyO3 bindings over trrg-metrics, trrg-labeler and trrg-clean; no burn. The Python layer in
//! `python/trrg/` gives pycocoevalcap's classes and the one-call API on top of these functions.
//!
//! ```text
//! gts {id: [ref, ...]}, res {id: [hyp]} --examples (checked, GIL held)--> Vec<refs>, Vec<hyp>
//!     --GIL released--> NlgEvaluator::{bleu, rouge_l, cider, meteor} / evaluate --> Python lists
//! ```
//!
//! Every check of the inputs that pycocoevalcap makes with `assert` becomes a `TypeError` or
//! `ValueError` naming the id and what is wrong, and so do non-str and empty texts, which
//! pycocoevalcap scores silently; trrg's own errors keep their messages.
#![warn(missing_docs)]

use std::path::PathBuf;
use std::sync::Arc;

use pyo3::exceptions::{PyOSError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString, PyTuple};
use trrg_clean::Cleaner;
use trrg_labeler::{Labeler, CHEXPERT_OBSERVATIONS, LABELER_NAME};
use trrg_metrics::{CeConvention, Meteor, MeteorCache, NlgEvaluator};

/// A trrg-metrics error as a Python exception with the same message: unreadable METEOR data is
/// an `OSError`, everything else a `ValueError`.
fn metrics_error(e: trrg_metrics::Error) -> PyErr {
    match e {
        trrg_metrics::Error::MeteorData { .. } => PyOSError::new_err(e.to_string()),
        _ => PyValueError::new_err(e.to_string()),
    }
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map_or_else(|_| "?".into(), |n| n.to_string())
}

fn repr(obj: &Bound<'_, PyAny>) -> String {
    obj.repr().map_or_else(|_| "?".into(), |r| r.to_string())
}

/// The texts of `value` (a list or tuple of str), which is `what[key]`.
fn texts(value: &Bound<'_, PyAny>, what: &str, key: &str) -> PyResult<Vec<String>> {
    if !(value.is_instance_of::<PyList>() || value.is_instance_of::<PyTuple>()) {
        return Err(PyTypeError::new_err(format!(
            "{what}[{key}] must be a list of str, not {}",
            type_name(value)
        )));
    }
    let mut out = Vec::new();
    for (i, item) in value.try_iter()?.enumerate() {
        let item = item?;
        if !item.is_instance_of::<PyString>() {
            return Err(PyTypeError::new_err(format!(
                "{what}[{key}][{i}] must be a str, not {}",
                type_name(&item)
            )));
        }
        out.push(item.extract::<String>()?);
    }
    Ok(out)
}

fn as_dict<'py>(obj: &Bound<'py, PyAny>, name: &str, shape: &str) -> PyResult<Bound<'py, PyDict>> {
    obj.cast::<PyDict>().cloned().map_err(|_| {
        PyTypeError::new_err(format!(
            "{name} must be a dict {{id: {shape}}}, not {}",
            type_name(obj)
        ))
    })
}

/// Examples of a pycocoevalcap `(gts, res)` pair, in the order of `gts`'s keys.
struct Examples {
    refs: Vec<Vec<String>>,
    hyps: Vec<String>,
}

impl Examples {
    fn read(gts: &Bound<'_, PyAny>, res: &Bound<'_, PyAny>) -> PyResult<Self> {
        let gts = as_dict(gts, "gts", "[reference, ...]")?;
        let res = as_dict(res, "res", "[hypothesis]")?;
        let only_in = |a: &Bound<'_, PyDict>, b: &Bound<'_, PyDict>| -> PyResult<Vec<String>> {
            let mut ids = Vec::new();
            for key in a.keys() {
                if !b.contains(&key)? {
                    ids.push(repr(&key));
                }
            }
            Ok(ids)
        };
        let (only_gts, only_res) = (only_in(&gts, &res)?, only_in(&res, &gts)?);
        if !only_gts.is_empty() || !only_res.is_empty() {
            let list = |ids: &[String]| {
                let shown: Vec<&str> = ids.iter().take(3).map(String::as_str).collect();
                let more = if ids.len() > 3 { ", ..." } else { "" };
                format!("{} ({}{more})", ids.len(), shown.join(", "))
            };
            return Err(PyValueError::new_err(format!(
                "gts and res must have the same ids: {} only in gts, {} only in res",
                list(&only_gts),
                list(&only_res)
            )));
        }
        if gts.is_empty() {
            return Err(PyValueError::new_err(
                "gts and res are empty: nothing to score",
            ));
        }
        let mut examples = Examples {
            refs: Vec::with_capacity(gts.len()),
            hyps: Vec::with_capacity(gts.len()),
        };
        for (key, refs) in gts.iter() {
            let id = repr(&key);
            let refs = texts(&refs, "gts", &id)?;
            if refs.is_empty() {
                return Err(PyValueError::new_err(format!(
                    "gts[{id}] is an empty list: every example needs at least one reference"
                )));
            }
            if let Some(i) = refs.iter().position(|r| r.trim().is_empty()) {
                return Err(PyValueError::new_err(format!(
                    "gts[{id}][{i}] is an empty reference"
                )));
            }
            let hyp = res
                .get_item(&key)?
                .ok_or_else(|| PyValueError::new_err(format!("res has no id {id}")))?;
            let hyp = texts(&hyp, "res", &id)?;
            let [hyp] = <[String; 1]>::try_from(hyp).map_err(|h| {
                PyValueError::new_err(format!(
                    "res[{id}] must hold exactly one hypothesis, not {}",
                    h.len()
                ))
            })?;
            if hyp.trim().is_empty() {
                return Err(PyValueError::new_err(format!(
                    "res[{id}][0] is an empty hypothesis: trrg refuses empty texts, so that a \
                     failed generation is not scored as a report (pycocoevalcap would score it 0)"
                )));
            }
            examples.refs.push(refs);
            examples.hyps.push(hyp);
        }
        Ok(examples)
    }

    /// An evaluator over these examples (ids are their positions) with `meteor`.
    fn evaluator(&self, meteor: Arc<Meteor>) -> PyResult<NlgEvaluator> {
        let mut eval = NlgEvaluator::with_meteor(meteor);
        for (i, (refs, hyp)) in self.refs.iter().zip(&self.hyps).enumerate() {
            eval.update(&i.to_string(), refs, hyp)
                .map_err(metrics_error)?;
        }
        Ok(eval)
    }
}

/// The pooled BLEU counts: `(testlen, reflen, guess[4], correct[4])`.
type BleuTotals = (usize, usize, [usize; 4], [usize; 4]);

/// BLEU-1..4 as pycocoevalcap's `Bleu(4)`: `(corpus[4], per_example[4][n], totals)`.
#[pyfunction]
fn bleu(
    py: Python<'_>,
    gts: &Bound<'_, PyAny>,
    res: &Bound<'_, PyAny>,
) -> PyResult<([f64; 4], Vec<Vec<f64>>, BleuTotals)> {
    let eval = Examples::read(gts, res)?.evaluator(Meteor::shared_exact_stem())?;
    let b = py.detach(|| eval.bleu());
    let per_order = (0..4)
        .map(|k| b.per_example.iter().map(|s| s[k]).collect())
        .collect();
    let t = b.totals;
    Ok((
        b.corpus,
        per_order,
        (t.test_len, t.ref_len, t.guess, t.correct),
    ))
}

/// Per-example ROUGE-L as pycocoevalcap's `Rouge`.
#[pyfunction]
fn rouge_l(py: Python<'_>, gts: &Bound<'_, PyAny>, res: &Bound<'_, PyAny>) -> PyResult<Vec<f64>> {
    let eval = Examples::read(gts, res)?.evaluator(Meteor::shared_exact_stem())?;
    Ok(py.detach(|| eval.rouge_l()))
}

/// Per-example CIDEr-D as pycocoevalcap's `Cider(sigma=sigma)`.
#[pyfunction]
#[pyo3(signature = (gts, res, sigma = 6.0))]
fn cider_d(
    py: Python<'_>,
    gts: &Bound<'_, PyAny>,
    res: &Bound<'_, PyAny>,
    sigma: f64,
) -> PyResult<Vec<f64>> {
    if !(sigma.is_finite() && sigma > 0.0) {
        return Err(PyValueError::new_err(format!(
            "CIDEr's sigma must be a positive number, not {sigma}"
        )));
    }
    let eval = Examples::read(gts, res)?.evaluator(Meteor::shared_exact_stem())?;
    Ok(py.detach(|| eval.cider(sigma)))
}

/// METEOR 1.5 and its language data. Immutable, so one scorer serves any number of threads.
#[pyclass(frozen, module = "trrg._native")]
struct MeteorScorer {
    meteor: Arc<Meteor>,
    cache: Option<(String, String)>,
}

#[pymethods]
impl MeteorScorer {
    /// With `jar` (`meteor-1.5.jar`, `data/paraphrase-en.gz` beside it): all four modules,
    /// through a cache of the parsed tables in `cache_dir` when given. Without `jar`: the exact
    /// and stem modules only.
    #[new]
    #[pyo3(signature = (jar = None, cache_dir = None))]
    fn new(py: Python<'_>, jar: Option<PathBuf>, cache_dir: Option<PathBuf>) -> PyResult<Self> {
        let Some(jar) = jar else {
            return Ok(Self {
                meteor: Meteor::shared_exact_stem(),
                cache: None,
            });
        };
        py.detach(|| match cache_dir {
            None => Ok(Self {
                meteor: Arc::new(Meteor::from_jar(&jar)?),
                cache: None,
            }),
            Some(dir) => {
                let (meteor, outcome) = Meteor::from_jar_cached(&jar, &dir)?;
                let cache = match outcome {
                    MeteorCache::Loaded(path) => ("loaded".into(), path.display().to_string()),
                    MeteorCache::Written { path, replaced } => (
                        match replaced {
                            None => "written".into(),
                            Some(why) => format!("rewritten ({why})"),
                        },
                        path.display().to_string(),
                    ),
                    MeteorCache::NotWritten { path, reason } => {
                        (format!("not written: {reason}"), path.display().to_string())
                    }
                };
                Ok(Self {
                    meteor: Arc::new(meteor),
                    cache: Some(cache),
                })
            }
        })
        .map_err(metrics_error)
    }

    /// The modules in use, e.g. `"exact,stem,synonym,paraphrase"`.
    #[getter]
    fn modules(&self) -> String {
        self.meteor.modules()
    }

    /// What the table cache did, `(status, path)`: status `loaded`, `written`,
    /// `rewritten (why)` or `not written: why`; `None` when no cache was asked for.
    #[getter]
    fn cache(&self) -> Option<(String, String)> {
        self.cache.clone()
    }

    /// `(corpus score, per-example scores)` as pycocoevalcap's `Meteor().compute_score`.
    fn compute(
        &self,
        py: Python<'_>,
        gts: &Bound<'_, PyAny>,
        res: &Bound<'_, PyAny>,
    ) -> PyResult<(f64, Vec<f64>)> {
        let eval = Examples::read(gts, res)?.evaluator(self.meteor.clone())?;
        let m = py.detach(|| eval.meteor());
        Ok((m.corpus, m.per_example))
    }
}

/// Every NLG metric and CE in `convention`, as the JSON text `trrg eval` prints.
#[pyfunction]
#[pyo3(signature = (gts, res, convention, meteor, per_example = false))]
fn evaluate(
    py: Python<'_>,
    gts: &Bound<'_, PyAny>,
    res: &Bound<'_, PyAny>,
    convention: &str,
    meteor: &MeteorScorer,
    per_example: bool,
) -> PyResult<String> {
    let conventions = [
        CeConvention::R2gen,
        CeConvention::Promptmrg,
        CeConvention::F1chexbert,
    ];
    let convention = conventions
        .into_iter()
        .find(|c| c.name() == convention)
        .ok_or_else(|| {
            PyValueError::new_err(format!(
                "unknown CE convention {convention:?}: use \"r2gen\", \"promptmrg\" or \"f1chexbert\""
            ))
        })?;
    let ex = Examples::read(gts, res)?;
    let examples: Vec<(String, Vec<String>, String)> = ex
        .refs
        .into_iter()
        .zip(ex.hyps)
        .enumerate()
        .map(|(i, (r, h))| (i.to_string(), r, h))
        .collect();
    let meteor = meteor.meteor.clone();
    py.detach(|| {
        let (scores, ce) =
            trrg_metrics::evaluate(&examples, meteor, convention).map_err(metrics_error)?;
        let json = trrg_metrics::evaluation_json(&scores, &ce, per_example);
        Ok(json.to_string())
    })
}

/// Where the METEOR table cache lives by default (`$TRRG_CACHE_DIR`, `$XDG_CACHE_HOME/trrg` or
/// `~/.cache/trrg`), as `trrg eval` keeps it.
#[pyfunction]
fn default_cache_dir() -> Option<PathBuf> {
    Meteor::default_cache_dir()
}

/// The 14 CheXpert observations, in the labeler's order.
#[pyfunction]
fn observations() -> Vec<&'static str> {
    CHEXPERT_OBSERVATIONS.to_vec()
}

/// Labels each report: 14 values (1, 0, -1 or `None`) in the order of [`observations`].
#[pyfunction]
fn label(py: Python<'_>, reports: Vec<String>) -> PyResult<Vec<Vec<Option<i8>>>> {
    if let Some(i) = reports.iter().position(|r| r.trim().is_empty()) {
        return Err(PyValueError::new_err(format!("report {i} is empty")));
    }
    Ok(py.detach(|| {
        let labeler = Labeler::new();
        reports.iter().map(|r| labeler.label(r).to_vec()).collect()
    }))
}

/// One report cleaned by R2Gen's (`"iu"`, `"mimic"`) or R2GenGPT's (`"r2gengpt_mimic"`) cleaner.
#[pyfunction]
fn clean(report: &str, cleaner: &str) -> PyResult<String> {
    let cleaner = match cleaner {
        "iu" => Cleaner::IuXray,
        "mimic" => Cleaner::MimicCxr,
        "r2gengpt_mimic" => Cleaner::R2GenGptMimic,
        other => {
            return Err(PyValueError::new_err(format!(
                "unknown cleaner {other:?}: use \"iu\", \"mimic\" or \"r2gengpt_mimic\""
            )))
        }
    };
    Ok(cleaner.clean(report))
}

/// The native module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(bleu, m)?)?;
    m.add_function(wrap_pyfunction!(rouge_l, m)?)?;
    m.add_function(wrap_pyfunction!(cider_d, m)?)?;
    m.add_function(wrap_pyfunction!(evaluate, m)?)?;
    m.add_function(wrap_pyfunction!(observations, m)?)?;
    m.add_function(wrap_pyfunction!(default_cache_dir, m)?)?;
    m.add_function(wrap_pyfunction!(label, m)?)?;
    m.add_function(wrap_pyfunction!(clean, m)?)?;
    m.add_class::<MeteorScorer>()?;
    m.add("LABELER_NAME", LABELER_NAME)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
