//! The legacy `physicsstores` rows as `extract` writes them (MySQL column names, every column
//! nullable: the legacy schema has no NOT NULL and no keys).

use serde::Deserialize;

/// Trimmed text, `None` when NULL or blank: the legacy forms left empty strings and
/// trailing spaces (`E15 `) where nothing or a code was meant.
pub fn clean(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|t| !t.is_empty())
}

/// A legacy DATE as `YYYY-MM-DD`, `None` for NULL and for what is no calendar day (MySQL's
/// zero date `0000-00-00`, a zero month or day): [`not_dates`] names those, so they are
/// reported, never dropped silently.
pub fn date(s: &Option<String>) -> Option<&str> {
    clean(s).filter(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").is_ok())
}

/// A warning for each of `columns` that holds a value which is not a calendar day (it is
/// stored as NULL).
pub fn not_dates(columns: &[(&str, &Option<String>)]) -> Vec<String> {
    columns
        .iter()
        .filter_map(|(name, v)| {
            let text = clean(v)?;
            date(v).is_none().then(|| format!("{name} '{text}' is no calendar day (a MySQL zero date or a zero month or day): stored as NULL"))
        })
        .collect()
}

/// `users`: plain-text passwords, LEVEL a letter or a digit.
#[derive(Debug, Deserialize)]
pub struct User {
    #[serde(rename = "USERNAME")]
    pub username: Option<String>,
    #[serde(rename = "USERPASSWORD")]
    pub password: Option<String>,
    #[serde(rename = "LEVEL")]
    pub level: Option<String>,
}

/// `stock`: one row per stock item (CODE not guaranteed unique).
#[derive(Debug, Deserialize)]
pub struct Stock {
    #[serde(rename = "CODE")]
    pub code: Option<String>,
    #[serde(rename = "DESC1")]
    pub desc1: Option<String>,
    #[serde(rename = "DESC2")]
    pub desc2: Option<String>,
    #[serde(rename = "BALANCE")]
    pub balance: Option<f64>,
    #[serde(rename = "PRICE")]
    pub price: Option<f64>,
    #[serde(rename = "MIN")]
    pub min: Option<f64>,
    #[serde(rename = "LOCATION")]
    pub location: Option<String>,
    #[serde(rename = "SIZE")]
    pub size: Option<String>,
    #[serde(rename = "HIDDEN")]
    pub hidden: Option<String>,
}

/// `supplier`.
#[derive(Debug, Deserialize)]
pub struct Supplier {
    #[serde(rename = "CODE")]
    pub code: Option<String>,
    #[serde(rename = "NAME")]
    pub name: Option<String>,
    #[serde(rename = "ADDRESS1")]
    pub address1: Option<String>,
    #[serde(rename = "ADDRESS2")]
    pub address2: Option<String>,
    #[serde(rename = "ADDRESS3")]
    pub address3: Option<String>,
    #[serde(rename = "ADDRESS4")]
    pub address4: Option<String>,
    #[serde(rename = "TELEPHONE")]
    pub telephone: Option<String>,
    #[serde(rename = "ACCOUNT")]
    pub account: Option<String>,
}

/// `charge`: cost centres (COSTCENTRE repeats with other PIN/ACTIVITY).
#[derive(Debug, Deserialize)]
pub struct Charge {
    #[serde(rename = "COSTCENTRE")]
    pub costcentre: Option<String>,
    #[serde(rename = "ACTIVITY")]
    pub activity: Option<String>,
    #[serde(rename = "PIN")]
    pub pin: Option<String>,
    #[serde(rename = "TITLE")]
    pub title: Option<String>,
    #[serde(rename = "AUTHORISE1")]
    pub authorise1: Option<String>,
    #[serde(rename = "AUTHORISE2")]
    pub authorise2: Option<String>,
    #[serde(rename = "AUTHORISE3")]
    pub authorise3: Option<String>,
    #[serde(rename = "START")]
    pub start: Option<String>,
    #[serde(rename = "END")]
    pub end: Option<String>,
    #[serde(rename = "ONHOLD")]
    pub onhold: Option<String>,
}

/// `orders`: denormalised, one row per order line.
#[derive(Debug, Deserialize)]
pub struct OrderLine {
    #[serde(rename = "ORDER_NO")]
    pub order_no: Option<String>,
    #[serde(rename = "DATE")]
    pub date: Option<String>,
    #[serde(rename = "SUPPLIER")]
    pub supplier: Option<String>,
    #[serde(rename = "STOCK_CODE")]
    pub stock_code: Option<String>,
    #[serde(rename = "QTY")]
    pub qty: Option<f64>,
    #[serde(rename = "PRICE")]
    pub price: Option<f64>,
    #[serde(rename = "VALUE")]
    pub value: Option<f64>,
    #[serde(rename = "RECD_DATE")]
    pub recd_date: Option<String>,
}

/// `issues`: stock issued to a cost centre; STOCK_CODE is free text.
#[derive(Debug, Deserialize)]
pub struct Issue {
    #[serde(rename = "DATE")]
    pub date: Option<String>,
    #[serde(rename = "COSTCENTRE")]
    pub costcentre: Option<String>,
    #[serde(rename = "QUANTITY")]
    pub quantity: Option<f64>,
    #[serde(rename = "STOCK_CODE")]
    pub stock_code: Option<String>,
    #[serde(rename = "VALUE")]
    pub value: Option<f64>,
    #[serde(rename = "PERIODCODE")]
    pub periodcode: Option<String>,
    #[serde(rename = "ACTIVITY")]
    pub activity: Option<String>,
    #[serde(rename = "PIN")]
    pub pin: Option<String>,
    #[serde(rename = "USER")]
    pub user: Option<String>,
    #[serde(rename = "ISSUEDTO")]
    pub issuedto: Option<String>,
    #[serde(rename = "REASON")]
    pub reason: Option<String>,
}

/// `vatparams`: one row, VAT as a percentage (20.00000).
#[derive(Debug, Deserialize)]
pub struct VatParams {
    #[serde(rename = "VAT")]
    pub vat: Option<f64>,
}
