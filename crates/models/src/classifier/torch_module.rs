//! Reading a pickled `torch.nn.Module` (`torch.save(model)`, as `300_model.pth` is saved) as data.
//!
//! The pickle is parsed by candle's pickle reader, which builds a tree of plain values and runs
//! nothing. This walks the module tree (`_modules`, `_parameters`, `_buffers`) to find tensors
//! and numeric attributes, and refuses any class that a VirNucPro classifier does not contain.

use std::collections::HashMap;
use std::path::Path;

use candle_core::pickle::{Object, Stack};
use candle_core::Tensor;

use crate::error::{ModelError, Result};
use crate::layers::weights::read_pth_tensor;

/// Classes a pickled MLPClassifier may reference; anything else is refused.
fn allowed_class(module: &str, class: &str) -> bool {
    matches!(
        (module, class),
        (_, "MLPClassifier")
            | ("torch.nn.modules.linear", "Linear")
            | ("torch.nn.modules.batchnorm", "BatchNorm1d")
            | ("torch.nn.modules.activation", "ReLU")
            | ("torch.nn.modules.dropout", "Dropout")
            | ("collections", "OrderedDict")
            | ("__builtin__" | "builtins", "set")
            | ("torch._utils", "_rebuild_tensor_v2" | "_rebuild_parameter")
            | ("torch._tensor", "_rebuild_from_type_v2")
            | ("torch", "Tensor" | "Size")
    ) || (module == "torch" && class.ends_with("Storage"))
}

/// Tensors (by dotted name, like a state dict) and float attributes (`bn1.eps` ...) of a module.
pub struct ModuleContents {
    /// Parameters and buffers.
    pub tensors: HashMap<String, Tensor>,
    /// Numeric attributes such as `eps` and `momentum`.
    pub floats: HashMap<String, f64>,
}

/// Reads a torch zip archive holding one pickled module.
pub fn read(path: &Path) -> Result<ModuleContents> {
    let bad = |m: String| ModelError::weights(path, m);
    let file = std::fs::File::open(path).map_err(|source| ModelError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut zip = zip::ZipArchive::new(std::io::BufReader::new(file))
        .map_err(|e| bad(format!("not a PyTorch zip archive ({e})")))?;
    let pkl_name = (0..zip.len())
        .filter_map(|i| {
            zip.name_for_index(i)
                .and_then(|n| n.ok())
                .map(|n| n.to_string())
        })
        .find(|n| n.ends_with("data.pkl"))
        .ok_or_else(|| bad("no data.pkl inside: not a file written by torch.save".into()))?;
    let dir = Path::new(pkl_name.strip_suffix(".pkl").unwrap_or(&pkl_name)).to_path_buf();
    let root = {
        let entry = zip
            .by_name(&pkl_name)
            .map_err(|e| bad(format!("cannot read {pkl_name}: {e}")))?;
        let mut reader = std::io::BufReader::new(entry);
        let mut stack = Stack::empty();
        stack
            .read_loop(&mut reader)
            .map_err(|e| bad(format!("cannot parse the pickle: {e}")))?;
        stack
            .finalize()
            .map_err(|e| bad(format!("cannot parse the pickle: {e}")))?
    };
    check_classes(&root).map_err(bad)?;

    let mut infos = Vec::new();
    let mut floats = HashMap::new();
    walk_module(root, "", &dir, &mut infos, &mut floats).map_err(bad)?;
    if infos.is_empty() {
        return Err(bad(
            "the pickle holds no tensors; expected a whole MLPClassifier module (torch.save(model)) \
             or use a .safetensors state dict"
                .into(),
        ));
    }
    let mut tensors = HashMap::new();
    for info in infos {
        let tensor = read_pth_tensor(&mut zip, &info, path)?;
        tensors.insert(info.name.clone(), tensor);
    }
    Ok(ModuleContents { tensors, floats })
}

/// Fails on the first class outside [`allowed_class`].
fn check_classes(obj: &Object) -> std::result::Result<(), String> {
    match obj {
        Object::Class {
            module_name,
            class_name,
        } => {
            if allowed_class(module_name, class_name) {
                Ok(())
            } else {
                Err(format!(
                    "the pickle references {module_name}.{class_name}, which a VirNucPro classifier \
                     does not contain; refusing to load it"
                ))
            }
        }
        Object::Tuple(items) | Object::List(items) => items.iter().try_for_each(check_classes),
        Object::Dict(items) => items
            .iter()
            .try_for_each(|(k, v)| check_classes(k).and_then(|_| check_classes(v))),
        Object::Reduce { callable, args } | Object::Build { callable, args } => {
            check_classes(callable)?;
            check_classes(args)
        }
        Object::PersistentLoad(inner) => check_classes(inner),
        _ => Ok(()),
    }
}

/// Collects the tensors of a pickled module and of its submodules, names joined with dots.
fn walk_module(
    obj: Object,
    prefix: &str,
    dir: &Path,
    infos: &mut Vec<candle_core::pickle::TensorInfo>,
    floats: &mut HashMap<String, f64>,
) -> std::result::Result<(), String> {
    let state = match obj {
        Object::Build { args, .. } => *args,
        other => {
            return Err(format!(
                "expected a pickled module at '{prefix}', found {}",
                describe(&other)
            ))
        }
    };
    let Object::Dict(items) = state else {
        return Err(format!(
            "the module at '{prefix}' has no attribute dictionary"
        ));
    };
    for (key, value) in items {
        let Object::Unicode(key) = key else { continue };
        match (key.as_str(), value) {
            ("_parameters" | "_buffers", Object::Dict(entries)) => {
                for (name, tensor) in entries {
                    let Object::Unicode(name) = name else {
                        continue;
                    };
                    if tensor == Object::None {
                        continue;
                    }
                    let full = format!("{prefix}{name}");
                    let info = tensor
                        .into_tensor_info(Object::Unicode(full.clone()), dir)
                        .map_err(|e| format!("tensor '{full}': {e}"))?
                        .ok_or_else(|| format!("'{full}' is not a stored tensor"))?;
                    infos.push(info);
                }
            }
            ("_modules", Object::Dict(children)) => {
                for (name, child) in children {
                    let Object::Unicode(name) = name else {
                        continue;
                    };
                    if child == Object::None {
                        continue;
                    }
                    walk_module(child, &format!("{prefix}{name}."), dir, infos, floats)?;
                }
            }
            (_, Object::Float(f)) => {
                floats.insert(format!("{prefix}{key}"), f);
            }
            _ => {}
        }
    }
    Ok(())
}

fn describe(obj: &Object) -> String {
    match obj {
        Object::Class {
            module_name,
            class_name,
        } => format!("class {module_name}.{class_name}"),
        Object::Dict(_) => "a dictionary (a state dict? save it as .safetensors)".into(),
        Object::Reduce { .. } => "an object without state".into(),
        _ => "a plain value".into(),
    }
}
