//! Writing small City databases in either layout [`super::geoip`] reads, with the
//! `mmdb-writer` crate: the test suites and `spate bench collect` build their own instead of
//! needing a download.

pub use mmdb_writer::ipnet;

use ipnet::IpNet;
use serde::Serialize;

use super::geoip::Location;
use crate::error::{CollectorError, Result};

/// The record layout to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// The `@ip-location-db` flat layout (`country_code`, `state1`, `city`, …).
    Flat,
    /// The GeoIP2 City layout (`country.iso_code`, `city.names.en`, `location.*`, …).
    GeoIp2,
}

#[derive(Serialize)]
struct FlatRecord<'a> {
    country_code: Option<&'a str>,
    state1: Option<&'a str>,
    city: Option<&'a str>,
    /// Single-precision, as `@ip-location-db` writes them.
    latitude: Option<f32>,
    longitude: Option<f32>,
}

#[derive(Serialize)]
struct Names<'a> {
    en: &'a str,
}

#[derive(Serialize)]
struct Named<'a> {
    names: Names<'a>,
}

#[derive(Serialize)]
struct Country<'a> {
    iso_code: &'a str,
}

#[derive(Serialize)]
struct GeoLocation {
    latitude: Option<f64>,
    longitude: Option<f64>,
    accuracy_radius: Option<u32>,
}

#[derive(Serialize)]
struct GeoIp2Record<'a> {
    country: Option<Country<'a>>,
    subdivisions: Option<Vec<Named<'a>>>,
    city: Option<Named<'a>>,
    location: GeoLocation,
}

/// An IPv6 database (IPv4 reachable through it) holding `entries`, as `.mmdb` bytes.
pub fn write(layout: Layout, entries: &[(IpNet, Location)]) -> Result<Vec<u8>> {
    let database_type = match layout {
        Layout::Flat => "spate-test-dbip-city",
        Layout::GeoIp2 => "spate-test-GeoIP2-City",
    };
    let mut writer = mmdb_writer::Writer::new(database_type);
    let err = |e: mmdb_writer::Error| CollectorError::Config(format!("writing a test mmdb: {e}"));
    for (net, loc) in entries {
        match layout {
            Layout::Flat => writer.insert(
                *net,
                &FlatRecord {
                    country_code: loc.country.as_deref(),
                    state1: loc.region.as_deref(),
                    city: loc.city.as_deref(),
                    latitude: loc.latitude.map(|d| d as f32),
                    longitude: loc.longitude.map(|d| d as f32),
                },
            ),
            Layout::GeoIp2 => writer.insert(
                *net,
                &GeoIp2Record {
                    country: loc.country.as_deref().map(|iso_code| Country { iso_code }),
                    subdivisions: loc.region.as_deref().map(|en| {
                        vec![Named {
                            names: Names { en },
                        }]
                    }),
                    city: loc.city.as_deref().map(|en| Named {
                        names: Names { en },
                    }),
                    location: GeoLocation {
                        latitude: loc.latitude,
                        longitude: loc.longitude,
                        accuracy_radius: loc.accuracy_radius_km,
                    },
                },
            ),
        }
        .map_err(err)?;
    }
    writer.to_bytes().map_err(err)
}
