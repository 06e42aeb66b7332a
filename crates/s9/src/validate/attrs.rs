//! Typed access to DynamoDB attribute values, and the required attributes and types of an
//! item against its table design.

use super::rules::{Req, Rule, Spec, Ty, Violation, ADDRESS, SALE_LINE};
use ferry_shared::value::Decimal;
use serde_json::{Map, Value};

/// The single `{TYPE: value}` pair of a DynamoDB attribute value.
pub(super) fn typed(av: &Value) -> Option<(&str, &Value)> {
    let o = av.as_object()?;
    if o.len() != 1 {
        return None;
    }
    o.iter().next().map(|(t, v)| (t.as_str(), v))
}

pub(super) fn s<'a>(m: &'a Map<String, Value>, k: &str) -> Option<&'a str> {
    m.get(k)?.get("S")?.as_str()
}

pub(super) fn n(m: &Map<String, Value>, k: &str) -> Option<Decimal> {
    crate::item::number(m.get(k)?.get("N")?.as_str()?)
}

pub(super) fn int(m: &Map<String, Value>, k: &str) -> Option<i64> {
    m.get(k)?.get("N")?.as_str()?.trim().parse().ok()
}

pub(super) fn boolean(m: &Map<String, Value>, k: &str) -> Option<bool> {
    m.get(k)?.get("BOOL")?.as_bool()
}

pub(super) fn uuid_of(m: &Map<String, Value>, k: &str) -> Option<u128> {
    let t = s(m, k)?;
    uuid::Uuid::parse_str(t)
        .ok()
        .filter(|u| u.hyphenated().to_string() == t)
        .map(|u| u.as_u128())
}

pub(super) fn same(a: &Decimal, b: &Decimal) -> bool {
    a.normalized() == b.normalized()
}

/// Checks that a value is well-formed DynamoDB typed JSON (for attributes the design does
/// not name, which are allowed but must still load).
fn well_formed(av: &Value) -> Result<(), String> {
    let Some((t, v)) = typed(av) else {
        return Err("is not a DynamoDB attribute value ({\"TYPE\": value})".into());
    };
    let strings = |v: &Value| v.as_array().is_some_and(|a| a.iter().all(Value::is_string));
    let ok = match t {
        "S" | "B" => v.is_string(),
        "N" => v.as_str().and_then(crate::item::number).is_some(),
        "BOOL" => v.is_boolean(),
        "NULL" => v == &Value::Bool(true),
        "SS" | "BS" => strings(v),
        "NS" => {
            strings(v)
                && v.as_array().is_some_and(|a| {
                    a.iter()
                        .all(|x| x.as_str().and_then(crate::item::number).is_some())
                })
        }
        "M" => {
            return match v.as_object() {
                Some(o) => o.values().try_for_each(well_formed),
                None => Err("M is not a map".into()),
            }
        }
        "L" => {
            return match v.as_array() {
                Some(a) => a.iter().try_for_each(well_formed),
                None => Err("L is not a list".into()),
            }
        }
        other => return Err(format!("has unknown DynamoDB type {other}")),
    };
    if ok {
        Ok(())
    } else {
        Err(format!("has a {t} value that is not valid"))
    }
}

/// Required attributes and types of one map against its spec; nested maps and lists are
/// checked with their own specs.
pub(super) fn check_attrs(
    m: &Map<String, Value>,
    spec: Spec,
    prefix: &str,
    deleted: bool,
    out: &mut Vec<Violation>,
) {
    let mut c = AttrCheck {
        m,
        prefix,
        deleted,
        missing: Vec::new(),
        out,
    };
    for &(name, ty, req) in spec {
        c.attr(name, ty, req);
    }
    c.unnamed(spec);
    c.report_missing();
}

/// One map being checked against its spec: the missing attributes are collected so that
/// one violation names them all, after the type violations.
struct AttrCheck<'a> {
    m: &'a Map<String, Value>,
    /// The path of the map (`address.`, `lines[0].`), prefixed to attribute names.
    prefix: &'a str,
    /// The item is soft-deleted (some attributes are then optional).
    deleted: bool,
    /// Paths of the required attributes absent or empty.
    missing: Vec<String>,
    out: &'a mut Vec<Violation>,
}

/// A type violation of the value `v` at `path`.
fn bad_type(path: &str, v: &Value, what: &str) -> Violation {
    Violation {
        rule: Rule::Type,
        attribute: path.to_string(),
        value: Some(v.to_string()),
        reason: format!("{path} {v} {what}"),
    }
}

impl AttrCheck<'_> {
    /// One attribute of the spec: present when required, of its DynamoDB type, and a
    /// well-formed value of that type.
    fn attr(&mut self, name: &str, ty: Ty, req: Req) {
        let m = self.m;
        let path = format!("{}{name}", self.prefix);
        let required = req == Req::Yes || (req == Req::UnlessDeleted && !self.deleted);
        let Some(av) = m.get(name) else {
            if required {
                self.missing.push(path);
            }
            return;
        };
        let want = match ty {
            Ty::S | Ty::Uuid => "S",
            Ty::N | Ty::Int => "N",
            Ty::Bool => "BOOL",
            Ty::M => "M",
            Ty::L => "L",
        };
        let Some((t, v)) = typed(av) else {
            self.out.push(Violation {
                rule: Rule::Type,
                attribute: path.clone(),
                value: Some(av.to_string()),
                reason: format!(
                    "{path} {av} is not a DynamoDB attribute value, expected {{\"{want}\": …}}"
                ),
            });
            return;
        };
        if t != want {
            self.out.push(Violation {
                rule: Rule::Type,
                attribute: path.clone(),
                value: Some(av.to_string()),
                reason: format!("{path} has DynamoDB type {t}, expected {want}"),
            });
            return;
        }
        match ty {
            Ty::S | Ty::Uuid => self.string(name, ty, &path, v, required),
            Ty::N | Ty::Int => self.number(ty, &path, v),
            Ty::Bool => {
                if !v.is_boolean() {
                    self.out.push(bad_type(&path, v, "is not true or false"));
                }
            }
            Ty::M => match v.as_object() {
                None => self.out.push(bad_type(&path, v, "is not a map")),
                Some(o) if name == "address" => {
                    check_attrs(o, ADDRESS, &format!("{path}."), self.deleted, self.out)
                }
                Some(_) => {}
            },
            Ty::L => match v.as_array() {
                None => self.out.push(bad_type(&path, v, "is not a list")),
                Some(a) => self.sale_lines(&path, a),
            },
        }
    }

    /// An `S` value: a string, not empty, and a UUID where the spec says so.
    fn string(&mut self, name: &str, ty: Ty, path: &str, v: &Value, required: bool) {
        match v.as_str() {
            None => self.out.push(bad_type(path, v, "is not a string")),
            Some("") if required => self.missing.push(path.to_string()),
            Some("") => self.out.push(Violation::new(
                Rule::Format,
                path,
                Some(""),
                format!("{path} is an empty string; the design leaves empty values out (DynamoDB refuses them in index keys)"),
            )),
            Some(x) if ty == Ty::Uuid && uuid_of(self.m, name).is_none() => {
                self.out.push(Violation::new(
                    Rule::Type,
                    path,
                    Some(x),
                    format!("{path} {x:?} is not a UUID (lower-case, hyphenated)"),
                ))
            }
            Some(_) => {}
        }
    }

    /// An `N` value: text holding a decimal, and an integer where the spec says so.
    fn number(&mut self, ty: Ty, path: &str, v: &Value) {
        match v.as_str() {
            None => self.out.push(bad_type(
                path,
                v,
                "is not a string of decimal digits (DynamoDB numbers are text)",
            )),
            Some(x) if crate::item::number(x).is_none() => self.out.push(Violation::new(
                Rule::Type,
                path,
                Some(x),
                format!("{path} {x:?} is not a decimal number (of at most 30 digits)"),
            )),
            Some(x) if ty == Ty::Int && x.trim().parse::<i64>().is_err() => {
                self.out.push(Violation::new(
                    Rule::Type,
                    path,
                    Some(x),
                    format!("{path} {x:?} is not an integer"),
                ))
            }
            Some(_) => {}
        }
    }

    /// The elements of a sale's `lines`: each a map checked against the line's spec.
    fn sale_lines(&mut self, path: &str, a: &[Value]) {
        for (i, el) in a.iter().enumerate() {
            let p = format!("{path}[{i}]");
            match typed(el) {
                Some(("M", Value::Object(o))) => {
                    check_attrs(o, SALE_LINE, &format!("{p}."), self.deleted, self.out)
                }
                _ => self.out.push(Violation {
                    rule: Rule::Type,
                    attribute: p.clone(),
                    value: Some(el.to_string()),
                    reason: format!("{p} is not a map (each sale line is {{\"M\": …}})"),
                }),
            }
        }
    }

    /// Attributes the spec does not name are allowed, but must be well-formed to load.
    fn unnamed(&mut self, spec: Spec) {
        let prefix = self.prefix;
        for (k, av) in self.m {
            if spec.iter().any(|(name, ..)| name == k) {
                continue;
            }
            if let Err(why) = well_formed(av) {
                self.out.push(Violation {
                    rule: Rule::Type,
                    attribute: format!("{prefix}{k}"),
                    value: Some(av.to_string()),
                    reason: format!("{prefix}{k} {why}"),
                });
            }
        }
    }

    /// One violation naming every required attribute that is absent or empty.
    fn report_missing(self) {
        let missing = self.missing;
        if missing.is_empty() {
            return;
        }
        let reason = if missing.len() == 1 {
            format!("required attribute {} is absent or empty", missing[0])
        } else {
            format!(
                "required attributes {} are absent or empty",
                missing.join(", ")
            )
        };
        self.out.push(Violation {
            rule: Rule::Required,
            attribute: missing[0].clone(),
            value: None,
            reason,
        });
    }
}
