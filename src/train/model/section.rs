//! The experiment file's `model:` (or each entry of `models:`): a preset and the changes to its
//! shape, each key declared and applied by the preset's family.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{FAMILIES, InputShape, ModelSpec};
use crate::options::{self, Json, Options, Problems};

/// `model:` a preset (`dynunc models` lists them) and optional changes to its shape: the keys
/// its family declares (mlp/cnn `hidden`; resnet `stem`, `block`, `depths`, `widths`; convnext
/// `depths`, `widths`, `patch_size`, `drop_path`; swin also `heads`, `window_size`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RawModel {
    /// Name in results (default: the preset's); needed when one preset appears twice.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Preset name: `cnn` (default), `mlp`, `resnet18`, `resnet50`, `convnext_tiny`,
    /// `swin_tiny`, or the small-input `resnet_mini`, `convnext_mini`, `swin_mini`.
    pub arch: String,
    /// This model's own training (the keys of `train:`, each given one replacing the
    /// experiment's), for a model trained to another recipe (cross-architecture retrains).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub train: Option<Json>,
    /// The family's shape keys, checked against its declarations.
    #[serde(flatten)]
    pub options: BTreeMap<String, Json>,
}

impl Default for RawModel {
    fn default() -> Self {
        Self {
            name: None,
            arch: "cnn".into(),
            train: None,
            options: BTreeMap::new(),
        }
    }
}

/// One model section at YAML path `at`: the preset, then each change its family accepts, then
/// the shape checked against the input (when the dataset is known).
pub fn validate(
    m: &RawModel,
    at: &str,
    input: Option<InputShape>,
    p: &mut Problems,
) -> Option<ModelSpec> {
    let Some(mut spec) = ModelSpec::preset(&m.arch) else {
        let names: Vec<_> = super::presets().map(|p| p.name).collect();
        p.fail(
            &format!("{at}.arch"),
            format!(
                "unknown model `{}`; available: {} (`dynunc models` lists them with their sizes)",
                m.arch,
                names.join(", ")
            ),
        );
        return None;
    };
    let family = spec.arch.family();
    for key in options::undeclared(family.options(), &m.options) {
        let known = FAMILIES
            .iter()
            .any(|f| f.options().iter().any(|o| o.name() == key));
        let message = match known {
            true => format!(
                "does not apply to {} models (model.arch: {}); remove it",
                family.name(),
                m.arch
            ),
            false => format!(
                "unknown key; a model takes name, arch and its family's keys ({}: {})",
                family.name(),
                family
                    .options()
                    .iter()
                    .map(|o| o.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        p.fail(&format!("{at}.{key}"), message);
    }
    let given = Options::given(family.options(), &m.options, at, p);
    family.apply(&mut spec.arch, &given);
    if let Some(n) = &m.name {
        if n.is_empty() || n.contains(['/', '\\', ',']) {
            p.fail(
                &format!("{at}.name"),
                format!("`{n}`: give a non-empty name without '/', '\\' or ','"),
            );
        }
        spec.name.clone_from(n);
    }
    let before = p.len();
    if let Some(input) = input {
        for (key, message) in spec.check(input) {
            p.fail(
                &format!("{at}.{key}"),
                format!(
                    "{message} (input {}x{}x{})",
                    input.channels, input.height, input.width
                ),
            );
        }
    }
    (p.len() == before).then_some(spec)
}

/// `model:` or `models:` (exactly one, names distinct folder names): the specs, in order.
pub fn validate_all(
    model: Option<&RawModel>,
    models: Option<&[RawModel]>,
    input: Option<InputShape>,
    p: &mut Problems,
) -> Option<Vec<ModelSpec>> {
    let list = match (model, models) {
        (Some(_), Some(_)) => {
            p.fail("models", "give either `model:` or `models:`, not both");
            return None;
        }
        (_, Some([])) => {
            p.fail("models", "empty: list at least one model");
            return None;
        }
        (_, Some(list)) => list,
        (m, None) => {
            return validate(&m.cloned().unwrap_or_default(), "model", input, p).map(|s| vec![s]);
        }
    };
    let specs: Vec<_> = list
        .iter()
        .enumerate()
        .map(|(i, m)| validate(m, &format!("models[{i}]"), input, p))
        .collect();
    let mut names = std::collections::BTreeSet::new();
    for (i, s) in specs.iter().enumerate() {
        let Some(s) = s else { continue };
        if !crate::options::is_folder_name(&s.name) {
            p.fail(
                &format!("models[{i}].name"),
                format!(
                    "`{}` must be non-empty, use only letters, digits, `_`, `-`, `.`, and not be dots alone (it names a folder of work/)",
                    s.name
                ),
            );
        }
        if !names.insert(s.name.clone()) {
            p.fail(
                &format!("models[{i}].name"),
                format!(
                    "`{}` appears twice; give each model its own `name:`",
                    s.name
                ),
            );
        }
    }
    specs.into_iter().collect()
}
