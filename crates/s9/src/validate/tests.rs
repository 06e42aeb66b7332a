use super::*;
use crate::transform::{new_id, Entity, MAX_ITEM_BYTES};
use serde_json::{json, Map, Value};

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

fn buyer(id: i64, email: &str) -> Value {
    json!({
        "buyerId": {"S": new_id("buyers", id)}, "legacyId": {"N": id.to_string()},
        "buyerCode": {"S": format!("B{id:03}")}, "companyName": {"S": "Acme Retail GmbH"},
        "email": {"S": email}, "vatNumber": {"S": "DE123456789"},
        "address": {"M": {"city": {"S": "Berlin"}, "countryCode": {"S": "DE"}}},
        "status": {"S": "ACTIVE"}, "createdAt": {"S": "2020-01-10T09:00:00Z"},
        "isDeleted": {"BOOL": false}
    })
}

fn producer(id: i64) -> Value {
    json!({
        "producerId": {"S": new_id("producers", id)}, "legacyId": {"N": id.to_string()},
        "name": {"S": "Bodega Sol"}, "status": {"S": "ACTIVE"}, "isDeleted": {"BOOL": false}
    })
}

fn sale(id: i64, buyer: i64, producer: i64) -> Value {
    json!({
        "saleId": {"S": new_id("sales", id)}, "legacyId": {"N": id.to_string()},
        "saleNumber": {"S": "S-2023-0001"},
        "buyerId": {"S": new_id("buyers", buyer)}, "buyerLegacyId": {"N": buyer.to_string()},
        "producerId": {"S": new_id("producers", producer)}, "producerLegacyId": {"N": producer.to_string()},
        "saleDate": {"S": "2023-03-15"}, "statusSaleDate": {"S": "CONFIRMED#2023-03-15"},
        "status": {"S": "CONFIRMED"}, "currency": {"S": "EUR"},
        "lines": {"L": [
            {"M": {"lineNo": {"N": "1"}, "quantity": {"N": "12"}, "unitPrice": {"N": "8.5"}, "vatRate": {"N": "21"}, "lineTotal": {"N": "102"}}},
            {"M": {"lineNo": {"N": "2"}, "quantity": {"N": "6"}, "unitPrice": {"N": "11.25"}, "vatRate": {"N": "21"}, "lineTotal": {"N": "67.5"}}}
        ]},
        "totalNet": {"N": "169.50"}, "totalVat": {"N": "35.60"}, "totalGross": {"N": "205.10"},
        "createdAt": {"S": "2023-03-15T10:00:00Z"}, "isDeleted": {"BOOL": false}
    })
}

fn rules(v: &[Violation]) -> Vec<&'static str> {
    v.iter().map(|x| x.rule.name()).collect()
}

fn line(v: &Value) -> Vec<u8> {
    v.to_string().into_bytes()
}

#[test]
fn formats() {
    assert!(is_email("anna@acme.example"));
    assert!(is_email("yamada@test.example.jp"));
    assert!(!is_email("mario.rossi at mail"));
    assert!(!is_email("a@b"));
    assert!(!is_email("a@@b.com"));
    assert!(!is_email("a b@c.com"));
    assert!(!is_email("a@-b.com"));
    assert!(!is_email("a@b.c0"));
    assert!(is_vat("DE123456789"));
    assert!(is_vat("ES12345678Z"));
    assert!(is_vat("FR12345678901"));
    assert!(!is_vat("DE1"));
    assert!(!is_vat("123456789"));
    assert!(!is_vat("de123456789"));
    assert!(!is_vat("DE12345678901234"));
    assert!(is_country("ES"));
    assert!(!is_country("es"));
    assert!(!is_country("ESP"));
    assert!(is_currency("JPY"));
    assert!(!is_currency("eur"));
    assert!(!is_currency("EU"));
    assert!(is_date("2023-07-15"));
    assert!(!is_date("2023-02-30"));
    assert!(!is_date("15/07/2023"));
    assert!(!is_date("2023-7-15"));
    assert!(is_timestamp("2023-07-15T15:00:00Z"));
    assert!(is_timestamp("2023-07-15T15:00:00.123456Z"));
    assert!(!is_timestamp("2023-07-15T15:00:00"));
    assert!(!is_timestamp("2023-07-15 15:00:00Z"));
    assert!(!is_timestamp("2023-07-15T15:00:00+02:00"));
    assert!(!is_timestamp("2023-07-15T25:00:00Z"));
    assert!(!is_timestamp("2023-07-15T15:00:00.Z"));
}

#[test]
fn good_items_pass() {
    assert_eq!(
        check_item(Entity::Buyers, &obj(buyer(1, "anna@acme.example"))),
        []
    );
    assert_eq!(check_item(Entity::Producers, &obj(producer(10))), []);
    assert_eq!(check_item(Entity::Sales, &obj(sale(100, 1, 10))), []);
}

#[test]
fn required_attributes_are_named_together() {
    let mut b = obj(buyer(5, "noname@x.example"));
    b.remove("companyName");
    b.remove("buyerCode");
    let v = check_item(Entity::Buyers, &b);
    assert_eq!(rules(&v), ["required"]);
    assert_eq!(v[0].attribute, "buyerCode");
    assert_eq!(
        v[0].reason,
        "required attributes buyerCode, companyName are absent or empty"
    );
    // A deleted sale needs no number; a live one does.
    let mut s = obj(sale(106, 2, 11));
    s.remove("saleNumber");
    assert_eq!(rules(&check_item(Entity::Sales, &s)), ["required"]);
    s.insert("isDeleted".into(), json!({"BOOL": true}));
    s.insert("deletedAt".into(), json!({"S": "2023-09-01T00:00:00Z"}));
    s.insert("status".into(), json!({"S": "DELETED"}));
    s.insert("statusSaleDate".into(), json!({"S": "DELETED#2023-03-15"}));
    assert_eq!(check_item(Entity::Sales, &s), []);
}

#[test]
fn types_and_keys() {
    let mut b = obj(buyer(1, "anna@acme.example"));
    b.insert("legacyId".into(), json!({"S": "1"}));
    b.insert("isDeleted".into(), json!({"BOOL": "no"}));
    b.insert("buyerId".into(), json!({"S": "not-a-uuid"}));
    let v = check_item(Entity::Buyers, &b);
    assert_eq!(rules(&v), ["type", "type", "type"]);
    assert_eq!(
        v[0].reason,
        "buyerId \"not-a-uuid\" is not a UUID (lower-case, hyphenated)"
    );
    assert_eq!(v[1].reason, "legacyId has DynamoDB type S, expected N");
    assert_eq!(v[2].reason, "isDeleted \"no\" is not true or false");
    let mut p = obj(producer(10));
    p.insert("legacyId".into(), json!({"N": "11"}));
    let v = check_item(Entity::Producers, &p);
    assert_eq!(rules(&v), ["key"]);
    assert_eq!(
        v[0].reason,
        format!(
            "producerId {:?} is not the key of legacyId 11 (UUID v5 of s9/producers/11: {})",
            new_id("producers", 10),
            new_id("producers", 11)
        )
    );
    let mut s = obj(sale(100, 1, 10));
    s.insert("totalNet".into(), json!({"N": "12,50"}));
    let v = check_item(Entity::Sales, &s);
    assert_eq!(rules(&v), ["type"]);
    assert_eq!(
        v[0].reason,
        "totalNet \"12,50\" is not a decimal number (of at most 30 digits)"
    );
}

#[test]
fn formats_of_items() {
    let v = check_item(Entity::Buyers, &obj(buyer(7, "mario.rossi at mail")));
    assert_eq!(rules(&v), ["format"]);
    assert_eq!(v[0].attribute, "email");
    assert_eq!(v[0].value.as_deref(), Some("\"mario.rossi at mail\""));
    assert_eq!(
        v[0].reason,
        "email \"mario.rossi at mail\" is not an email address (local@domain.tld)"
    );
    let mut b = obj(buyer(1, "Anna@acme.example"));
    b.insert("vatNumber".into(), json!({"S": "X1"}));
    b.insert("phone".into(), json!({"S": ""}));
    let v = check_item(Entity::Buyers, &b);
    assert_eq!(rules(&v), ["format", "format", "format"]);
    let mut s = obj(sale(100, 1, 10));
    s.insert("currency".into(), json!({"S": "EURO"}));
    s.insert("createdAt".into(), json!({"S": "2023-03-15 10:00:00"}));
    let v = check_item(Entity::Sales, &s);
    assert_eq!(
        v.iter().map(|x| x.reason.as_str()).collect::<Vec<_>>(),
        [
            "createdAt \"2023-03-15 10:00:00\" is not an ISO 8601 UTC timestamp (YYYY-MM-DDTHH:MM:SS[.ffffff]Z)",
            "currency \"EURO\" is not a currency code (3 upper-case letters)"
        ]
    );
}

#[test]
fn business_rules() {
    let mut b = obj(buyer(1, "anna@acme.example"));
    b.insert("status".into(), json!({"S": "BLOCKED"}));
    let v = check_item(Entity::Buyers, &b);
    assert_eq!(
        v[0].reason,
        "status \"BLOCKED\" is not a buyer status (ACTIVE, INACTIVE, DELETED)"
    );
    let mut p = obj(producer(12));
    p.insert("isDeleted".into(), json!({"BOOL": true}));
    let v = check_item(Entity::Producers, &p);
    assert_eq!(v[0].reason, "isDeleted is true but deletedAt is absent");

    let mut s = obj(sale(100, 1, 10));
    s.insert("totalGross".into(), json!({"N": "205.11"}));
    let v = check_item(Entity::Sales, &s);
    assert_eq!(rules(&v), ["business_rule"]);
    assert_eq!(
        v[0].reason,
        "totalGross 205.11 is not totalNet + totalVat = 205.10"
    );

    let mut s = obj(sale(100, 1, 10));
    s["lines"]["L"][1]["M"]["lineTotal"] = json!({"N": "67.49"});
    s["lines"]["L"][0]["M"]["quantity"] = json!({"N": "-12"});
    s.insert("statusSaleDate".into(), json!({"S": "DRAFT#2023-03-15"}));
    let v = check_item(Entity::Sales, &s);
    assert_eq!(
        v.iter().map(|x| x.reason.as_str()).collect::<Vec<_>>(),
        [
            "statusSaleDate \"DRAFT#2023-03-15\" is not status#saleDate \"CONFIRMED#2023-03-15\" (the sort key of status-index)",
            "lines[0].quantity -12 is negative",
            "lines[0].lineTotal 102 is not quantity × unitPrice = -102",
            "lines[1].lineTotal 67.49 is not quantity × unitPrice = 67.5",
            "totalNet 169.50 is not the sum of the line totals rounded to the cent, 169.49",
            "totalVat 35.60 is not the sum of the lines' VAT rounded to the cent, 35.59",
        ]
    );
    // Exact, not floating point: 3 × 7.3333 = 21.9999, net 22.00, VAT 4.62.
    let mut s = obj(sale(105, 1, 10));
    s["lines"] = json!({"L": [{"M": {"lineNo": {"N": "1"}, "quantity": {"N": "3"}, "unitPrice": {"N": "7.3333"}, "vatRate": {"N": "21"}, "lineTotal": {"N": "21.9999"}}}]});
    s["totalNet"] = json!({"N": "22.00"});
    s["totalVat"] = json!({"N": "4.62"});
    s["totalGross"] = json!({"N": "26.62"});
    assert_eq!(check_item(Entity::Sales, &s), []);
}

#[test]
fn duplicates_in_file_order() {
    let mut v = Validator::new();
    assert!(v
        .check(Entity::Buyers, 1, &line(&buyer(1, "anna@acme.example")))
        .is_valid());
    // Buyer 6's first row reuses buyer 1's email; its second row reuses id 6.
    let first6 = v.check(Entity::Buyers, 6, &line(&buyer(6, "Anna@Acme.example")));
    assert_eq!(
        first6.rule(),
        Some(Rule::Format),
        "not lower case, and a duplicate"
    );
    assert_eq!(
        first6.violations[1].reason,
        "email \"Anna@Acme.example\" is already used by buyer 1 at line 1 (email-index: one buyer per email)"
    );
    let second6 = v.check(Entity::Buyers, 7, &line(&buyer(6, "copy@dup.example")));
    assert_eq!(rules(&second6.violations), ["duplicate_key"]);
    assert_eq!(
        second6.reason(),
        format!(
            "buyerId {} (legacy buyer 6) already belongs to the item at line 6 (the first item with a key claims it)",
            new_id("buyers", 6)
        )
    );
    // The second copy did not claim its email.
    assert!(v
        .check(Entity::Buyers, 8, &line(&buyer(8, "copy@dup.example")))
        .is_valid());
    let bad = v.check(Entity::Buyers, 9, b"{not json");
    assert_eq!(bad.rule(), Some(Rule::Malformed));
}

#[test]
fn references_need_valid_buyers_and_producers() {
    let mut v = Validator::new();
    assert!(v
        .check(Entity::Buyers, 1, &line(&buyer(1, "anna@acme.example")))
        .is_valid());
    assert!(!v
        .check(Entity::Buyers, 2, &line(&buyer(6, "anna@acme.example")))
        .is_valid());
    v.transform_rejected(Entity::Buyers, 8, 3);
    assert!(v
        .check(Entity::Producers, 1, &line(&producer(10)))
        .is_valid());
    assert!(v
        .check(Entity::Sales, 1, &line(&sale(100, 1, 10)))
        .is_valid());
    let to6 = v.check(Entity::Sales, 2, &line(&sale(105, 6, 10)));
    assert_eq!(
        to6.reason(),
        format!(
            "buyerId {} (legacy buyer 6) is a buyer rejected by validation (duplicate_email, buyers.ndjson line 2)",
            new_id("buyers", 6)
        )
    );
    let to99 = v.check(Entity::Sales, 3, &line(&sale(103, 99, 11)));
    assert_eq!(rules(&to99.violations), ["reference", "reference"]);
    assert_eq!(
        to99.violations[0].reason,
        format!(
            "buyerId {} (legacy buyer 99) matches no buyer in buyers.ndjson",
            new_id("buyers", 99)
        )
    );
    assert_eq!(to99.violations[1].attribute, "producerId");
    let to8 = v.check(Entity::Sales, 4, &line(&sale(107, 8, 10)));
    assert_eq!(
        to8.reason(),
        format!(
            "buyerId {} (legacy buyer 8) is a buyer rejected by the transform (buyers.rejects.ndjson line 3)",
            new_id("buyers", 8)
        )
    );
    // A buyerId that is not its buyerLegacyId's key.
    let mut s = sale(108, 1, 10);
    s["buyerLegacyId"] = json!({"N": "2"});
    let w = v.check(Entity::Sales, 5, &line(&s));
    assert_eq!(
        w.reason(),
        format!(
            "buyerId {:?} is not the key of buyerLegacyId 2 ({})",
            new_id("buyers", 1),
            new_id("buyers", 2)
        )
    );
    let dup = v.check(Entity::Sales, 6, &line(&sale(100, 1, 10)));
    assert_eq!(dup.rule(), Some(Rule::DuplicateKey));
}

#[test]
fn oversized_items_are_refused() {
    let mut s = sale(104, 1, 10);
    s["notes"] = json!({"S": "x".repeat(MAX_ITEM_BYTES)});
    let mut v = Validator::new();
    let r = v.check(Entity::Sales, 1, &line(&s));
    assert_eq!(r.rule(), Some(Rule::Size));
}
