//! Named properties: `always`, `eventually` and `sometimes`, each reading ground truth.
//!
//! A property is named `"<model>: <claim>"`; the name is stable and appears in reports,
//! snapshots and coverage tables. `always` is checked after every state change a service
//! applies and at the end of the run; `eventually` once, after the healing phase; `sometimes`
//! is never a failure in one run: a sweep asserts it was hit at least once, so a property cannot
//! pass because the dangerous interleaving never happened. A property may take parameters (a
//! bound, a count: `always_with`, `eventually_with`) with defaults a scenario overrides by
//! name (`with_parameters`); its name stays its identity and the parameters are shown next to
//! it. Not provided: temporal logic beyond these three modalities.

use std::fmt;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::history::{GroundTruth, History};

/// The result of checking a property once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The property holds.
    Pass,
    /// The property is violated.
    Violated {
        /// What went wrong, naming the offending keys and values.
        reason: String,
        /// The entities the violation is about, spelled as trace lines show them (an org
        /// id, `player 9`, an email): the report shows the trace lines that mention them
        /// instead of the run's last lines, which for an end-of-run check are idle polls.
        entities: Vec<String>,
    },
}

impl Verdict {
    /// A violation with its reason.
    pub fn violated(reason: impl Into<String>) -> Verdict {
        Verdict::Violated {
            reason: reason.into(),
            entities: Vec::new(),
        }
    }

    /// `Pass` when `holds`, else a violation with the reason `reason()` builds.
    pub fn check(holds: bool, reason: impl FnOnce() -> String) -> Verdict {
        if holds {
            Verdict::Pass
        } else {
            Verdict::violated(reason())
        }
    }

    /// This verdict, naming the entities a violation is about (a pass stays a pass). Each
    /// is matched in trace lines as a whole word: `player 9` does not match `player 91`.
    pub fn about<Entity: Into<String>>(
        self,
        entities: impl IntoIterator<Item = Entity>,
    ) -> Verdict {
        match self {
            Verdict::Pass => Verdict::Pass,
            Verdict::Violated {
                reason,
                entities: mut named,
            } => {
                for entity in entities.into_iter().map(Into::into) {
                    if !named.contains(&entity) {
                        named.push(entity);
                    }
                }
                Verdict::Violated {
                    reason,
                    entities: named,
                }
            }
        }
    }
}

/// When a property is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Modality {
    /// After every applied state change, and at the end of the run.
    Always,
    /// Once, after the healing phase.
    Eventually,
    /// Coverage: hit in at least one run of a sweep.
    Sometimes,
}

impl fmt::Display for Modality {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            Modality::Always => "always",
            Modality::Eventually => "eventually",
            Modality::Sometimes => "sometimes",
        })
    }
}

type CheckFn = Arc<dyn Fn(&History) -> Verdict + Send + Sync>;
type SinceFn = Arc<dyn Fn(&History, usize) -> (Verdict, usize) + Send + Sync>;
type HitFn = Arc<dyn Fn(&History) -> bool + Send + Sync>;

#[derive(Clone)]
enum Check {
    Verdict(CheckFn),
    Since(SinceFn),
    Hit(HitFn),
}

type Rebuild = Arc<dyn Fn(&Value) -> Result<CheckFn, String> + Send + Sync>;

/// A property's parameters: their values (a JSON object) and how to rebuild its check from
/// other values.
#[derive(Clone)]
struct Parameters {
    values: Value,
    rebuild: Rebuild,
}

/// A named claim about a run, checked against its ground-truth `History`.
#[derive(Clone)]
pub struct Property {
    name: String,
    modality: Modality,
    check: Check,
    parameters: Option<Parameters>,
}

impl fmt::Debug for Property {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "Property({} {:?})", self.modality, self.name)
    }
}

impl Property {
    /// Must hold after every state change.
    pub fn always(
        name: impl Into<String>,
        check: impl Fn(&History) -> Verdict + Send + Sync + 'static,
    ) -> Property {
        Property::new(name, Modality::Always, Check::Verdict(Arc::new(check)))
    }

    /// `always`, checked over what is new since its last check: `check(history, since)`
    /// reads from position `since` (0 at a run's first check, and at the end-of-run check,
    /// which reads everything) and returns its verdict and the position it checked up to;
    /// the kernel keeps that position between one run's checks and hands it back. For an
    /// append-only record a full rescan at every change would make a run quadratic.
    pub fn always_since(
        name: impl Into<String>,
        check: impl Fn(&History, usize) -> (Verdict, usize) + Send + Sync + 'static,
    ) -> Property {
        Property::new(name, Modality::Always, Check::Since(Arc::new(check)))
    }

    /// `always` over an append-only list of `source`'s state (`entries` finds it): during the
    /// run `check` sees each entry once, at the first check after its arrival; the end-of-run
    /// check sees every entry again.
    pub fn always_each<G, T>(
        name: impl Into<String>,
        source: G,
        entries: fn(&G::State) -> &[T],
        check: impl Fn(&T) -> Verdict + Send + Sync + 'static,
    ) -> Property
    where
        G: GroundTruth + Send + Sync + 'static,
        T: 'static,
    {
        Property::always_since(name, move |history, since| {
            let state = history.read(&source);
            let all = entries(&state);
            assert!(since <= all.len(), "an append-only list shrank");
            let found = all[since..]
                .iter()
                .map(&check)
                .find(|verdict| *verdict != Verdict::Pass);
            (found.unwrap_or(Verdict::Pass), all.len())
        })
    }

    /// Must hold once faults have stopped and the healing phase has run.
    pub fn eventually(
        name: impl Into<String>,
        check: impl Fn(&History) -> Verdict + Send + Sync + 'static,
    ) -> Property {
        Property::new(name, Modality::Eventually, Check::Verdict(Arc::new(check)))
    }

    /// `always` with parameters: `defaults` (a serde struct, its fields the parameters'
    /// names) until a scenario overrides some (`with_parameters`).
    pub fn always_with<P: Serialize + DeserializeOwned + Send + Sync + 'static>(
        name: impl Into<String>,
        defaults: P,
        check: impl Fn(&History, &P) -> Verdict + Send + Sync + 'static,
    ) -> Property {
        Property::with_defaults(name, Modality::Always, defaults, check)
    }

    /// `eventually` with parameters, as [`Property::always_with`].
    pub fn eventually_with<P: Serialize + DeserializeOwned + Send + Sync + 'static>(
        name: impl Into<String>,
        defaults: P,
        check: impl Fn(&History, &P) -> Verdict + Send + Sync + 'static,
    ) -> Property {
        Property::with_defaults(name, Modality::Eventually, defaults, check)
    }

    fn with_defaults<P: Serialize + DeserializeOwned + Send + Sync + 'static>(
        name: impl Into<String>,
        modality: Modality,
        defaults: P,
        check: impl Fn(&History, &P) -> Verdict + Send + Sync + 'static,
    ) -> Property {
        let check = Arc::new(check);
        let rebuild: Rebuild = Arc::new(move |values: &Value| {
            let parameters: P =
                serde_json::from_value(values.clone()).map_err(|error| error.to_string())?;
            let check = Arc::clone(&check);
            let bound: CheckFn = Arc::new(move |history: &History| check(history, &parameters));
            Ok(bound)
        });
        let values = serde_json::to_value(&defaults).expect("property parameters serialize");
        assert!(
            values.is_object(),
            "property parameters are a struct of named fields"
        );
        let check = rebuild(&values).expect("the defaults read back");
        let mut property = Property::new(name, modality, Check::Verdict(check));
        property.parameters = Some(Parameters { values, rebuild });
        property
    }

    /// This property with the parameters in `overrides` (a JSON object, each field one of
    /// its parameters) replacing its current values; the others keep theirs. An unknown
    /// parameter, a value of the wrong type, or a property that takes none, is an error.
    pub fn with_parameters(&self, overrides: &Value) -> Result<Property, String> {
        let name = &self.name;
        let Some(parameters) = &self.parameters else {
            return Err(format!("property {name:?} takes no parameters"));
        };
        let Some(overrides) = overrides.as_object() else {
            return Err(format!(
                "parameters of {name:?}: expected a table of values"
            ));
        };
        let mut values = parameters.values.clone();
        let fields = values.as_object_mut().expect("parameters are an object");
        for (key, value) in overrides {
            if !fields.contains_key(key) {
                let known: Vec<&str> = fields.keys().map(String::as_str).collect();
                let known = known.join(", ");
                return Err(format!(
                    "property {name:?} has no parameter `{key}`; its parameters: {known}"
                ));
            }
            fields.insert(key.clone(), value.clone());
        }
        let check = (parameters.rebuild)(&values)
            .map_err(|error| format!("parameters of {name:?}: {error}"))?;
        let mut property = self.clone();
        property.check = Check::Verdict(check);
        property.parameters = Some(Parameters {
            values,
            rebuild: Arc::clone(&parameters.rebuild),
        });
        Ok(property)
    }

    /// Its parameters' current values (a JSON object), if it takes any.
    pub fn parameters(&self) -> Option<&Value> {
        self.parameters
            .as_ref()
            .map(|parameters| &parameters.values)
    }

    /// Its parameters as reports show them after its name, ` (within = "1s")`; empty when
    /// it takes none.
    pub fn shown_parameters(&self) -> String {
        match self.parameters().and_then(Value::as_object) {
            None => String::new(),
            Some(fields) => {
                let shown: Vec<String> = fields
                    .iter()
                    .map(|(key, value)| format!("{key} = {value}"))
                    .collect();
                format!(" ({})", shown.join(", "))
            }
        }
    }

    /// Must be hit (return true at the end of a run) in at least one run of a sweep.
    pub fn sometimes(
        name: impl Into<String>,
        hit: impl Fn(&History) -> bool + Send + Sync + 'static,
    ) -> Property {
        Property::new(name, Modality::Sometimes, Check::Hit(Arc::new(hit)))
    }

    /// A `sometimes` property named after the coverage mark `mark` (`ctx.mark`): hit in a run
    /// that recorded it at least once.
    pub fn marked(mark: &'static str) -> Property {
        Property::sometimes(mark, move |history| history.mark_count(mark) > 0)
    }

    fn new(name: impl Into<String>, modality: Modality, check: Check) -> Property {
        let name = name.into();
        assert!(
            name.contains(": "),
            "property names read \"<model>: <claim>\", got {name:?}"
        );
        Property {
            name,
            modality,
            check,
            parameters: None,
        }
    }

    /// The stable name, `"<model>: <claim>"`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// When it is checked.
    pub fn modality(&self) -> Modality {
        self.modality
    }

    /// Evaluates an `always` or `eventually` property over the whole history.
    pub fn verdict(&self, history: &History) -> Verdict {
        self.verdict_since(history, &mut 0)
    }

    /// Evaluates an `always` or `eventually` property; an incremental one (`always_since`)
    /// reads from `position` and moves it on.
    pub fn verdict_since(&self, history: &History, position: &mut usize) -> Verdict {
        match &self.check {
            Check::Verdict(check) => check(history),
            Check::Since(check) => {
                let (verdict, checked) = check(history, *position);
                *position = checked;
                verdict
            }
            Check::Hit(_) => panic!("{} is a sometimes property; use hit()", self.name),
        }
    }

    /// Evaluates a `sometimes` property.
    pub fn hit(&self, history: &History) -> bool {
        match &self.check {
            Check::Hit(hit) => hit(history),
            Check::Verdict(_) | Check::Since(_) => {
                panic!("{} is not a sometimes property", self.name)
            }
        }
    }
}
