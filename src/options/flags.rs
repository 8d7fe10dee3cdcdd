//! Command-line flags built from declared options: every option a registry's pieces declare
//! becomes `--key-name VALUE` (clap's `Args`, so a derive struct can `#[command(flatten)]`
//! it); [`Flags::resolve`] checks the given ones against the chosen piece's declarations.

use std::collections::BTreeMap;
use std::marker::PhantomData;

use super::{Declared, Json, Options, Problems, from_cli};

/// A registry whose pieces declare options: what the flags are built from.
pub trait Registry: 'static {
    /// Every option of every piece, each key once.
    fn declared() -> Vec<&'static dyn Declared>;
    /// The names of the pieces that read `key`.
    fn readers(key: &str) -> Vec<&'static str>;
}

/// The flags of a registry's options, as given on the command line.
#[derive(Debug, Clone)]
pub struct Flags<R> {
    /// `(option key, value as typed)`.
    pub given: Vec<(&'static str, String)>,
    registry: PhantomData<fn() -> R>,
}

impl<R> Default for Flags<R> {
    fn default() -> Self {
        Flags {
            given: Vec::new(),
            registry: PhantomData,
        }
    }
}

/// `key_name` as a flag: `key-name`.
pub fn flag(key: &str) -> String {
    key.replace('_', "-")
}

impl<R: Registry> clap::FromArgMatches for Flags<R> {
    fn from_arg_matches(m: &clap::ArgMatches) -> Result<Self, clap::Error> {
        let mut out = Flags::default();
        out.update_from_arg_matches(m)?;
        Ok(out)
    }

    fn update_from_arg_matches(&mut self, m: &clap::ArgMatches) -> Result<(), clap::Error> {
        for d in R::declared() {
            if let Some(v) = m.get_one::<String>(d.name()) {
                self.given.push((d.name(), v.clone()));
            }
        }
        Ok(())
    }
}

impl<R: Registry> clap::Args for Flags<R> {
    fn augment_args(mut cmd: clap::Command) -> clap::Command {
        for d in R::declared() {
            let default = match d.default_json() {
                Json::Null => String::new(),
                Json::String(s) => format!(" [default: {s}]"),
                v => format!(" [default: {v}]"),
            };
            let readers = R::readers(d.name()).join(", ");
            cmd = cmd.arg(
                clap::Arg::new(d.name())
                    .long(&*Box::leak(flag(d.name()).into_boxed_str()))
                    .value_name("VALUE")
                    .allow_negative_numbers(true)
                    .help(format!("{readers}: {} ({}){default}", d.doc(), d.kind())),
            );
        }
        cmd
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_args(cmd)
    }
}

impl<R: Registry> Flags<R> {
    /// The options of the piece `chosen` (`--method dyn_unc`), which declares `own`: the flags
    /// given, checked, and every other option at its default. A flag it does not read is an
    /// error naming the pieces that do.
    pub fn resolve(&self, own: &[&dyn Declared], chosen: &str) -> Result<Options, String> {
        let mut given = BTreeMap::new();
        for (key, text) in &self.given {
            if !own.iter().any(|d| d.name() == *key) {
                return Err(format!(
                    "--{} applies to {}, not {chosen}; remove it",
                    flag(key),
                    R::readers(key).join(", "),
                ));
            }
            given.insert(key.to_string(), from_cli(text));
        }
        let mut problems = Problems::default();
        let options = Options::given(own, &given, "", &mut problems);
        match problems.into_vec().into_iter().next() {
            Some(p) => Err(format!("--{}: {}", flag(&p.path), p.message)),
            None => Ok(options.with_defaults(own)),
        }
    }
}
