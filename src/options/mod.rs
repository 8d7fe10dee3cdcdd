//! Declared options: every registered piece (a scorer, a selection strategy, a dataset format,
//! a model family) lists the keys it accepts, each with its type, default and one line of doc;
//! the experiment file's sections, their checks and the command line are built from those lists.
//!
//! An [`Opt<T>`] is typed where it is read (`WINDOW.get(&options)` is a `usize`), and object-safe
//! where it is listed ([`Declared`]), as ripgrep's flags are. Values travel as JSON between the
//! YAML file, the CLI and the resolved experiment, so every piece's options resolve alike.

mod choice;
pub mod flags;
mod problems;

use std::collections::BTreeMap;

pub use problems::{Problem, Problems};

/// A value as the experiment file or the command line gives it.
pub type Json = serde_json::Value;

/// A type an option can have.
pub trait OptType: Sized + Clone + Send + Sync + 'static {
    /// What a valid value looks like, for messages and `--help`: "a whole number".
    fn kind() -> String;
    /// The value, when `v` is one.
    fn from_json(v: &Json) -> Option<Self>;
    /// The value as JSON (what the resolved experiment shows).
    fn to_json(&self) -> Json;
}

impl OptType for usize {
    fn kind() -> String {
        "a whole number (0 or more)".into()
    }
    fn from_json(v: &Json) -> Option<Self> {
        v.as_u64().and_then(|n| usize::try_from(n).ok())
    }
    fn to_json(&self) -> Json {
        Json::from(*self)
    }
}

impl OptType for f64 {
    fn kind() -> String {
        "a number".into()
    }
    fn from_json(v: &Json) -> Option<Self> {
        v.as_f64()
    }
    fn to_json(&self) -> Json {
        Json::from(*self)
    }
}

impl OptType for bool {
    fn kind() -> String {
        "true or false".into()
    }
    fn from_json(v: &Json) -> Option<Self> {
        v.as_bool()
    }
    fn to_json(&self) -> Json {
        Json::from(*self)
    }
}

impl OptType for String {
    fn kind() -> String {
        "a text (a path)".into()
    }
    fn from_json(v: &Json) -> Option<Self> {
        v.as_str().map(str::to_owned)
    }
    fn to_json(&self) -> Json {
        Json::from(self.as_str())
    }
}

impl OptType for Vec<usize> {
    fn kind() -> String {
        "a list of whole numbers, e.g. [2, 2, 6, 2]".into()
    }
    fn from_json(v: &Json) -> Option<Self> {
        v.as_array()?.iter().map(usize::from_json).collect()
    }
    fn to_json(&self) -> Json {
        Json::from(self.clone())
    }
}

impl<T: OptType> OptType for Option<T> {
    fn kind() -> String {
        format!("{}, or absent", T::kind())
    }
    fn from_json(v: &Json) -> Option<Self> {
        match v {
            Json::Null => Some(None),
            v => T::from_json(v).map(Some),
        }
    }
    fn to_json(&self) -> Json {
        self.as_ref().map_or(Json::Null, T::to_json)
    }
}

/// One option of a piece: its key, what it means, and its default.
pub struct Opt<T: 'static> {
    /// Key in the experiment file (and, with `-` for `_`, the command-line flag).
    pub name: &'static str,
    /// One line: what it does, its default and the fix for a bad value where useful.
    pub doc: &'static str,
    /// The default (a function, so that lists and absent values can be defaults).
    pub default: fn() -> T,
}

impl<T: OptType> Opt<T> {
    /// The value in `options`, or the default.
    pub fn get(&self, options: &Options) -> T {
        options
            .values
            .get(self.name)
            .and_then(T::from_json)
            .unwrap_or_else(self.default)
    }

    /// The value when `options` holds one that was given (not defaulted).
    pub fn given(&self, options: &Options) -> Option<T> {
        options.values.get(self.name).and_then(T::from_json)
    }
}

/// An option of any type, as a registry lists it.
pub trait Declared: Sync {
    /// Key.
    fn name(&self) -> &'static str;
    /// One line of doc.
    fn doc(&self) -> &'static str;
    /// What a valid value looks like.
    fn kind(&self) -> String;
    /// The default as JSON.
    fn default_json(&self) -> Json;
    /// Whether `v` is a valid value.
    fn accepts(&self, v: &Json) -> bool;
}

impl<T: OptType> Declared for Opt<T> {
    fn name(&self) -> &'static str {
        self.name
    }
    fn doc(&self) -> &'static str {
        self.doc
    }
    fn kind(&self) -> String {
        T::kind()
    }
    fn default_json(&self) -> Json {
        (self.default)().to_json()
    }
    fn accepts(&self, v: &Json) -> bool {
        T::from_json(v).is_some()
    }
}

/// Resolved values of declared options, by key.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Options {
    values: BTreeMap<String, Json>,
}

impl Options {
    /// `given` checked against `declared`: each value of the declared type (a problem at
    /// `at.<key>` otherwise); keys not declared are left to the caller (see [`undeclared`]).
    pub fn given(
        declared: &[&dyn Declared],
        given: &BTreeMap<String, Json>,
        at: &str,
        problems: &mut Problems,
    ) -> Options {
        let mut values = BTreeMap::new();
        for d in declared {
            if let Some(v) = given.get(d.name()) {
                if d.accepts(v) {
                    values.insert(d.name().to_owned(), v.clone());
                } else {
                    problems.fail(
                        &join(at, d.name()),
                        format!("`{}` is not {}", show(v), d.kind()),
                    );
                }
            }
        }
        Options { values }
    }

    /// These options with every declared one not given set to its default.
    pub fn with_defaults(mut self, declared: &[&dyn Declared]) -> Options {
        for d in declared {
            self.values
                .entry(d.name().to_owned())
                .or_insert_with(|| d.default_json());
        }
        self
    }

    /// These options with `opt` set to `value`.
    pub fn with<T: OptType>(mut self, opt: &Opt<T>, value: T) -> Options {
        self.values.insert(opt.name.to_owned(), value.to_json());
        self
    }

    /// The values by key (what the resolved experiment writes).
    pub fn to_map(&self) -> BTreeMap<String, Json> {
        self.values.clone()
    }
}

/// The keys of `given` that no entry of `declared` names, in order.
pub fn undeclared<'a>(
    declared: &[&dyn Declared],
    given: &'a BTreeMap<String, Json>,
) -> Vec<&'a str> {
    given
        .keys()
        .filter(|k| !declared.iter().any(|d| d.name() == k.as_str()))
        .map(String::as_str)
        .collect()
}

/// A command-line value as the experiment file would give it: `10` a number, `[1, 2]` a list,
/// `paper` a text.
pub fn from_cli(text: &str) -> Json {
    match serde_saphyr::from_str::<Json>(text) {
        Ok(v) if !v.is_null() => v,
        _ => Json::String(text.to_owned()),
    }
}

/// `at.key`, or `key` at the top.
pub fn join(at: &str, key: &str) -> String {
    match at {
        "" => key.to_owned(),
        at => format!("{at}.{key}"),
    }
}

/// A JSON value as it reads in YAML (texts without quotes).
fn show(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        v => v.to_string(),
    }
}

/// The declared options of `pieces`, each key once (the first declaration wins; pieces that
/// share a key share its meaning, as Dyn-Unc's and DUAL's `window`).
pub fn union<'a>(lists: impl IntoIterator<Item = &'a [&'a dyn Declared]>) -> Vec<&'a dyn Declared> {
    let mut out: Vec<&dyn Declared> = Vec::new();
    for list in lists {
        for &d in list {
            if !out.iter().any(|o| o.name() == d.name()) {
                out.push(d);
            }
        }
    }
    out
}

/// Whether `name` can name a folder inside another one: non-empty, letters, digits, `_`, `-`,
/// `.` only, and not `.`, `..` or other dots alone (which would climb out or stay put).
pub fn is_folder_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || "_-.".contains(ch))
        && !name.chars().all(|ch| ch == '.')
}
