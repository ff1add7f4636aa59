//! Vehicle identification numbers (ISO 3779, with the North American check digit).

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// The world manufacturer identifier of the simulated maker.
const WMI: &[u8; 3] = b"1SF";
/// Characters a VIN may hold: digits and letters other than I, O and Q.
const ALPHABET: &[u8] = b"0123456789ABCDEFGHJKLMNPRSTUVWXYZ";
/// Model-year codes for 2010 to 2030 (position 10).
const YEAR_CODES: &[u8] = b"ABCDEFGHJKLMNPRSTVWXY";
/// The first model year with a code in `YEAR_CODES`.
const FIRST_YEAR: u32 = 2010;
/// Serial numbers per plant code (positions 12 to 17 are six digits).
const SERIALS_PER_PLANT: u64 = 1_000_000;
/// Weights of the 17 positions in the check digit.
const WEIGHTS: [u32; 17] = [8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2];

/// The most vehicles that get distinct VINs: one serial range per plant code.
pub const MAX_VEHICLES: u64 = SERIALS_PER_PLANT * (ALPHABET.len() as u64);

/// A 17-character vehicle identification number.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Vin([u8; 17]);

/// What a VIN is built from.
#[derive(Debug, Clone, Copy)]
pub struct VinParts {
    /// The model's code character.
    pub model_code: u8,
    /// Which of the model's engines (0-based).
    pub engine_index: u8,
    /// Cylinder count.
    pub cylinders: u8,
    /// Turbocharged engine.
    pub turbo: bool,
    /// Model year, 2010 to 2030.
    pub model_year: u32,
    /// The vehicle's number in the fleet, below [`MAX_VEHICLES`].
    pub serial: u64,
}

impl Vin {
    /// Builds the VIN of a vehicle, with its check digit.
    pub fn new(parts: &VinParts) -> Vin {
        debug_assert!(parts.serial < MAX_VEHICLES);
        let mut v = [b'0'; 17];
        v[..3].copy_from_slice(WMI);
        v[3] = parts.model_code;
        v[4] = b'A' + parts.engine_index;
        v[5] = b'0' + parts.cylinders % 10;
        v[6] = if parts.turbo { b'T' } else { b'N' };
        v[7] = b'1';
        let year = (parts.model_year.clamp(FIRST_YEAR, FIRST_YEAR + 20) - FIRST_YEAR) as usize;
        v[9] = YEAR_CODES[year];
        v[10] = ALPHABET[(parts.serial / SERIALS_PER_PLANT) as usize];
        let mut serial = parts.serial % SERIALS_PER_PLANT;
        for at in (11..17).rev() {
            v[at] = b'0' + (serial % 10) as u8;
            serial /= 10;
        }
        v[8] = check_digit(&v);
        Vin(v)
    }

    /// The VIN as text.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("VINs are ASCII")
    }

    /// The VIN's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Whether position 9 holds the right check digit.
    pub fn check_digit_ok(&self) -> bool {
        self.0[8] == check_digit(&self.0)
    }
}

/// The check digit of a VIN whose characters are all valid.
fn check_digit(v: &[u8; 17]) -> u8 {
    let sum: u32 = v
        .iter()
        .zip(WEIGHTS)
        .map(|(&c, w)| transliterate(c) * w)
        .sum();
    match sum % 11 {
        10 => b'X',
        d => b'0' + d as u8,
    }
}

/// The numeric value of a VIN character.
fn transliterate(c: u8) -> u32 {
    match c {
        b'0'..=b'9' => u32::from(c - b'0'),
        b'A'..=b'H' => u32::from(c - b'A') + 1,
        b'J'..=b'N' => u32::from(c - b'J') + 1,
        b'P' => 7,
        b'R' => 9,
        b'S'..=b'Z' => u32::from(c - b'S') + 2,
        _ => 0,
    }
}

impl fmt::Display for Vin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Vin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Vin({})", self.as_str())
    }
}

impl std::str::FromStr for Vin {
    type Err = String;

    fn from_str(s: &str) -> Result<Vin, String> {
        let bytes: [u8; 17] = s
            .as_bytes()
            .try_into()
            .map_err(|_| format!("a VIN has 17 characters, {s:?} has {}", s.len()))?;
        if let Some(bad) = bytes.iter().find(|c| !ALPHABET.contains(c)) {
            return Err(format!(
                "{:?} is not a VIN character (0-9, A-Z without I, O, Q) in {s:?}",
                char::from(*bad)
            ));
        }
        Ok(Vin(bytes))
    }
}

impl Serialize for Vin {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Vin {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Vin, D::Error> {
        struct VinVisitor;
        impl Visitor<'_> for VinVisitor {
            type Value = Vin;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a 17-character VIN")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Vin, E> {
                s.parse().map_err(E::custom)
            }
        }
        deserializer.deserialize_str(VinVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(serial: u64) -> VinParts {
        VinParts {
            model_code: b'H',
            engine_index: 1,
            cylinders: 4,
            turbo: false,
            model_year: 2021,
            serial,
        }
    }

    #[test]
    fn known_check_digit() {
        // The example VIN of the US check-digit rule (49 CFR 565): 1M8GDM9A_KP042788 → X.
        let vin: Vin = "1M8GDM9AXKP042788".parse().unwrap();
        assert!(vin.check_digit_ok());
    }

    #[test]
    fn vins_are_valid_and_unique() {
        let mut seen = std::collections::HashSet::new();
        for serial in [0, 1, 999_999, 1_000_000, 5_432_101, MAX_VEHICLES - 1] {
            let vin = Vin::new(&parts(serial));
            assert!(vin.check_digit_ok(), "{vin}");
            assert_eq!(vin.as_str().parse::<Vin>().unwrap(), vin);
            assert!(seen.insert(vin));
        }
        assert_eq!(&Vin::new(&parts(42)).as_str()[9..], "M0000042");
    }

    #[test]
    fn bad_text_is_refused() {
        assert!("1M8GDM9AXKP04278".parse::<Vin>().is_err());
        assert!("1M8GDM9AXKP04278O".parse::<Vin>().is_err());
    }
}
