//! Spatial values travel as hex EWKB, PostGIS's own text form: exact (coordinates stay IEEE
//! doubles, where WKT would round them to decimal text) and carrying the SRID. MariaDB and
//! MySQL store a geometry as a 4-byte little-endian SRID followed by plain WKB; these
//! functions convert between the two forms and check the header on the way.

/// EWKB's flag in the type word: an SRID follows the type.
const SRID_FLAG: u32 = 0x2000_0000;
/// EWKB's flags for Z and M coordinates, which MariaDB's geometry cannot hold.
const ZM_FLAGS: u32 = 0x8000_0000 | 0x4000_0000;

/// The byte order and type word at the start of a (E)WKB value.
fn header(wkb: &[u8]) -> Result<(bool, u32), String> {
    let (&order, rest) = wkb.split_first().ok_or("empty geometry value")?;
    let word: [u8; 4] = rest
        .get(..4)
        .and_then(|w| w.try_into().ok())
        .ok_or("geometry value shorter than its WKB header")?;
    match order {
        0 => Ok((false, u32::from_be_bytes(word))),
        1 => Ok((true, u32::from_le_bytes(word))),
        b => Err(format!(
            "geometry value starts with byte order {b}, not 0 or 1"
        )),
    }
}

fn word(v: u32, little: bool) -> [u8; 4] {
    if little {
        v.to_le_bytes()
    } else {
        v.to_be_bytes()
    }
}

/// MariaDB's stored form (SRID, then WKB) → EWKB; SRID 0 gives plain WKB, as PostGIS
/// writes a geometry without SRID.
pub fn mysql_to_ewkb(stored: &[u8]) -> Result<Vec<u8>, String> {
    let (srid, wkb) = stored
        .split_first_chunk::<4>()
        .ok_or("geometry value shorter than its SRID")?;
    let srid = u32::from_le_bytes(*srid);
    let (little, ty) = header(wkb)?;
    if srid == 0 {
        return Ok(wkb.to_vec());
    }
    let mut out = Vec::with_capacity(wkb.len() + 4);
    out.push(wkb[0]);
    out.extend_from_slice(&word(ty | SRID_FLAG, little));
    out.extend_from_slice(&word(srid, little));
    out.extend_from_slice(&wkb[5..]);
    Ok(out)
}

/// EWKB → MariaDB's stored form. A value with Z or M coordinates has no MariaDB form.
pub fn ewkb_to_mysql(ewkb: &[u8]) -> Result<Vec<u8>, String> {
    let (little, ty) = header(ewkb)?;
    if ty & ZM_FLAGS != 0 {
        return Err("geometry has Z or M coordinates, which MariaDB/MySQL cannot hold".into());
    }
    let (srid, body) = if ty & SRID_FLAG != 0 {
        let w: [u8; 4] = ewkb
            .get(5..9)
            .and_then(|w| w.try_into().ok())
            .ok_or("geometry value shorter than its SRID")?;
        let srid = if little {
            u32::from_le_bytes(w)
        } else {
            u32::from_be_bytes(w)
        };
        (srid, &ewkb[9..])
    } else {
        (0, &ewkb[5..])
    };
    let mut out = Vec::with_capacity(ewkb.len() + 4);
    out.extend_from_slice(&srid.to_le_bytes());
    out.push(ewkb[0]);
    out.extend_from_slice(&word(ty & !SRID_FLAG, little));
    out.extend_from_slice(body);
    Ok(out)
}

/// The NDJSON text of a geometry: uppercase hex, as PostGIS prints it.
pub fn to_hex(ewkb: &[u8]) -> String {
    hex::encode_upper(ewkb)
}

/// Reads the NDJSON text of a geometry and checks its header.
pub fn from_hex(text: &str) -> Result<Vec<u8>, String> {
    let b = hex::decode(text).map_err(|e| format!("is not hex EWKB ({e})"))?;
    header(&b)?;
    Ok(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// POINT(1 2) with SRID 4326 as MariaDB stores it and as PostGIS prints it.
    const STORED: &str = "E61000000101000000000000000000F03F0000000000000040";
    const EWKB: &str = "0101000020E6100000000000000000F03F0000000000000040";

    #[test]
    fn srid_moves_between_the_two_forms() {
        let stored = hex::decode(STORED).unwrap();
        let ewkb = mysql_to_ewkb(&stored).unwrap();
        assert_eq!(to_hex(&ewkb), EWKB);
        assert_eq!(ewkb_to_mysql(&ewkb).unwrap(), stored);
    }

    #[test]
    fn srid_zero_is_plain_wkb_and_bad_values_are_named() {
        let stored = hex::decode("000000000101000000000000000000F03F0000000000000040").unwrap();
        let ewkb = mysql_to_ewkb(&stored).unwrap();
        assert_eq!(ewkb, stored[4..]);
        assert_eq!(ewkb_to_mysql(&ewkb).unwrap(), stored);
        assert!(from_hex("zz").unwrap_err().contains("hex"));
        assert!(from_hex("07").is_err());
        let z = hex::decode("01010000800000000000000000").unwrap();
        assert!(ewkb_to_mysql(&z).unwrap_err().contains("Z or M"));
    }
}
