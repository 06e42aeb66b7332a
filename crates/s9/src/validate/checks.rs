//! Everything one item can break on its own: attributes, key, formats, business rules.

use super::attrs::{boolean, check_attrs, int, n, s, same, uuid_of};
use super::formats::check_formats;
use super::rules::{
    key_attribute, singular, Rule, Violation, BUYER, BUYER_STATUSES, PRODUCER, PRODUCER_STATUSES,
    SALE, SALE_STATUSES,
};
use crate::transform::{new_id, Entity};
use ferry_shared::value::Decimal;
use serde_json::{Map, Value};

fn is_deleted(m: &Map<String, Value>) -> bool {
    boolean(m, "isDeleted") == Some(true) || s(m, "status") == Some("DELETED")
}

fn business(reason: String, attr: &str, value: Option<&str>) -> Violation {
    Violation::new(Rule::BusinessRule, attr, value, reason)
}

fn check_business(e: Entity, m: &Map<String, Value>, out: &mut Vec<Violation>) {
    let allowed = match e {
        Entity::Buyers => BUYER_STATUSES,
        Entity::Producers => PRODUCER_STATUSES,
        Entity::Sales => SALE_STATUSES,
    };
    let status = s(m, "status").filter(|v| !v.is_empty());
    if let Some(st) = status {
        if !allowed.contains(&st) {
            out.push(business(
                format!(
                    "status {st:?} is not a {} status ({})",
                    singular(e),
                    allowed.join(", ")
                ),
                "status",
                Some(st),
            ));
        }
    }
    // isDeleted, deletedAt and status DELETED say the same thing and must agree.
    if let Some(flag) = boolean(m, "isDeleted") {
        let at = s(m, "deletedAt").filter(|v| !v.is_empty());
        let why = match (flag, at, status) {
            (true, None, _) => Some("isDeleted is true but deletedAt is absent".to_string()),
            (false, Some(t), _) => Some(format!("isDeleted is false but deletedAt is {t:?}")),
            (true, _, Some(st)) if st != "DELETED" => Some(format!(
                "isDeleted is true but status is {st:?}, not \"DELETED\""
            )),
            (false, _, Some("DELETED")) => {
                Some("status is \"DELETED\" but isDeleted is false".to_string())
            }
            _ => None,
        };
        if let Some(why) = why {
            out.push(business(why, "isDeleted", None));
        }
    }
    if e == Entity::Sales {
        check_sale_business(m, status, out);
    }
}

fn check_sale_business(m: &Map<String, Value>, status: Option<&str>, out: &mut Vec<Violation>) {
    if let (Some(st), Some(d), Some(ssd)) = (status, s(m, "saleDate"), s(m, "statusSaleDate")) {
        let want = format!("{st}#{d}");
        if ssd != want {
            out.push(business(
                format!("statusSaleDate {ssd:?} is not status#saleDate {want:?} (the sort key of status-index)"),
                "statusSaleDate",
                Some(ssd),
            ));
        }
    }
    // References that the item itself must get right: the keys are UUIDs of the legacy ids.
    for (attr, legacy_attr, table) in [
        ("buyerId", "buyerLegacyId", "buyers"),
        ("producerId", "producerLegacyId", "producers"),
    ] {
        if let (Some(k), Some(l)) = (s(m, attr), int(m, legacy_attr)) {
            if uuid_of(m, attr).is_some() && k != new_id(table, l) {
                out.push(Violation::new(
                    Rule::Reference,
                    attr,
                    Some(k),
                    format!(
                        "{attr} {k:?} is not the key of {legacy_attr} {l} ({})",
                        new_id(table, l)
                    ),
                ));
            }
        }
    }
    check_money(m, out);
}

/// Money, exactly: lineTotal = quantity × unitPrice; totalNet = Σ lineTotal to the cent;
/// totalVat = Σ per-line VAT rounded to the cent; totalGross = totalNet + totalVat.
fn check_money(m: &Map<String, Value>, out: &mut Vec<Violation>) {
    let lines = m
        .get("lines")
        .and_then(|l| l.get("L"))
        .and_then(Value::as_array);
    let (mut net, mut vat, mut sums_ok) = (
        Some(Decimal::zero()),
        Some(Decimal::zero()),
        lines.is_some(),
    );
    let hundredth = Decimal::from_scaled(1, 2);
    for (i, el) in lines.into_iter().flatten().enumerate() {
        let Some((t, r)) = check_line(i, el, out) else {
            sums_ok = false;
            continue;
        };
        net = net.and_then(|s| s.checked_add(&t));
        vat =
            vat.and_then(|s| s.checked_add(&t.checked_mul(&r)?.checked_mul(&hundredth)?.round(2)));
    }
    check_totals(m, net, vat, sums_ok, out);
}

/// One sale line's own rules (quantity, VAT rate, lineTotal). Returns its lineTotal and
/// VAT rate for the sums, or `None` when the line cannot be summed.
fn check_line(i: usize, el: &Value, out: &mut Vec<Violation>) -> Option<(Decimal, Decimal)> {
    let l = el.get("M").and_then(Value::as_object)?;
    let raw = |k: &str| l.get(k).and_then(|v| v.get("N")).and_then(Value::as_str);
    let (q, p, r, t) = (
        n(l, "quantity"),
        n(l, "unitPrice"),
        n(l, "vatRate"),
        n(l, "lineTotal"),
    );
    if let Some(q) = q.as_ref().filter(|q| q.negative) {
        let a = format!("lines[{i}].quantity");
        out.push(business(
            format!("{a} {q} is negative"),
            &a,
            raw("quantity"),
        ));
    }
    if let Some(r) = &r {
        let over = r
            .checked_add(&Decimal::from_scaled(-100, 0))
            .is_some_and(|d| d.is_positive());
        if r.negative || over {
            let a = format!("lines[{i}].vatRate");
            out.push(business(
                format!("{a} {r} is not a percentage between 0 and 100"),
                &a,
                raw("vatRate"),
            ));
        }
    }
    let (Some(q), Some(p), Some(r), Some(t)) = (q, p, r, t) else {
        return None;
    };
    let a = format!("lines[{i}].lineTotal");
    match q.checked_mul(&p) {
        Some(x) if same(&x, &t) => {}
        Some(x) => out.push(business(
            format!("{a} {t} is not quantity × unitPrice = {}", x.normalized()),
            &a,
            raw("lineTotal"),
        )),
        None => out.push(business(
            format!("{a} {t} cannot be checked: quantity × unitPrice overflows"),
            &a,
            raw("lineTotal"),
        )),
    }
    Some((t, r))
}

/// The sale's totals against the sums of its lines (`sums_ok`: every line could be
/// summed) and against each other.
fn check_totals(
    m: &Map<String, Value>,
    net: Option<Decimal>,
    vat: Option<Decimal>,
    sums_ok: bool,
    out: &mut Vec<Violation>,
) {
    let raw = |k: &str| m.get(k).and_then(|v| v.get("N")).and_then(Value::as_str);
    let (tn, tv, tg) = (n(m, "totalNet"), n(m, "totalVat"), n(m, "totalGross"));
    if sums_ok {
        if let (Some(want), Some(got)) = (net.map(|x| x.round(2)), &tn) {
            if !same(&want, got) {
                out.push(business(
                    format!("totalNet {got} is not the sum of the line totals rounded to the cent, {want}"),
                    "totalNet",
                    raw("totalNet"),
                ));
            }
        }
        if let (Some(want), Some(got)) = (vat.map(|x| x.round(2)), &tv) {
            if !same(&want, got) {
                out.push(business(
                    format!("totalVat {got} is not the sum of the lines' VAT rounded to the cent, {want}"),
                    "totalVat",
                    raw("totalVat"),
                ));
            }
        }
    }
    if let (Some(a), Some(b), Some(g)) = (tn, tv, tg) {
        match a.checked_add(&b) {
            Some(want) if same(&want, &g) => {}
            want => out.push(business(
                format!(
                    "totalGross {g} is not totalNet + totalVat = {}",
                    want.map_or_else(|| "(overflow)".to_string(), |w| w.to_string())
                ),
                "totalGross",
                raw("totalGross"),
            )),
        }
    }
}

/// Every rule one item can break on its own: required attributes, types, key, formats,
/// business rules. Sorted by rule (the first is the one the item is rejected for).
pub fn check_item(e: Entity, m: &Map<String, Value>) -> Vec<Violation> {
    let spec = match e {
        Entity::Buyers => BUYER,
        Entity::Producers => PRODUCER,
        Entity::Sales => SALE,
    };
    let mut out = Vec::new();
    check_attrs(m, spec, "", is_deleted(m), &mut out);
    let key = key_attribute(e);
    if let (Some(k), Some(l)) = (s(m, key), int(m, "legacyId")) {
        let name = e.name();
        if uuid_of(m, key).is_some() && k != new_id(name, l) {
            out.push(Violation::new(
                Rule::Key,
                key,
                Some(k),
                format!(
                    "{key} {k:?} is not the key of legacyId {l} (UUID v5 of s9/{name}/{l}: {})",
                    new_id(name, l)
                ),
            ));
        }
    }
    check_formats(e, m, &mut out);
    check_business(e, m, &mut out);
    out.sort_by_key(|v| v.rule);
    out
}
