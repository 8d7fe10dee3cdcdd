//! [`choices!`](crate::choices): an enum whose variants are spelt once, as YAML values, CLI
//! values (clap's `ValueEnum`), option values and in messages.

/// Declares an enum of named choices: `choices! { /// doc  pub enum Budget { /// doc
/// EqualEpochs = "equal_epochs", ... } }`. It gets `NAMES`, `ALL`, `name()`, `FromStr` with
/// the message "`x` is not one of: a, b", `Display`, clap's `ValueEnum`, serde as its name,
/// and [`OptType`](crate::options::OptType).
#[macro_export]
macro_rules! choices {
    ($(#[$m:meta])* $vis:vis enum $name:ident {
        $($(#[$vm:meta])* $var:ident = $s:literal),+ $(,)?
    }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        $vis enum $name {
            $($(#[$vm])* $var),+
        }

        impl $name {
            /// Every value's name, in declaration order.
            pub const NAMES: &'static [&'static str] = &[$($s),+];
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$var),+];

            /// The name in experiment files and on the command line.
            pub fn name(self) -> &'static str {
                match self {
                    $($name::$var => $s),+
                }
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                Self::ALL.iter().copied().find(|v| v.name() == s).ok_or_else(|| {
                    format!("`{s}` is not one of: {}", Self::NAMES.join(", "))
                })
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }

        impl clap::ValueEnum for $name {
            fn value_variants<'a>() -> &'a [Self] {
                Self::ALL
            }
            fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
                Some(clap::builder::PossibleValue::new(self.name()))
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.name())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <String as serde::Deserialize>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }

        impl $crate::options::OptType for $name {
            fn kind() -> String {
                format!("one of: {}", Self::NAMES.join(", "))
            }
            fn from_json(v: &$crate::options::Json) -> Option<Self> {
                v.as_str()?.parse().ok()
            }
            fn to_json(&self) -> $crate::options::Json {
                $crate::options::Json::from(self.name())
            }
        }
    };
}
