//! GeoIP from MaxMind-format databases (`.mmdb`, read with the `maxminddb` crate).
//!
//! Two record layouts are understood, whichever the database holds:
//!
//! - the flat one of the `@ip-location-db/*-mmdb` packages (DB-IP City Lite, GeoLite2 City):
//!   `country_code`, `state1`, `state2`, `city`, `postcode`, `latitude`, `longitude`,
//!   `timezone`;
//! - GeoIP2/GeoLite2 City from MaxMind: `country.iso_code`, `subdivisions[0].names`,
//!   `city.names` (English, else any language), `location.latitude`, `.longitude` and
//!   `.accuracy_radius` (km).
//!
//! Several databases can be given (DB-IP ships IPv4 and IPv6 apart): each address is looked
//! up in them in order, skipping IPv4-only ones for IPv6 addresses, and the first record
//! found wins. IPv4-mapped IPv6 addresses (`::ffff:192.0.2.1`) are looked up as IPv4.
//!
//! Events get `geo_country`, `geo_region`, `geo_city`, `geo_lat`, `geo_lon` and
//! `geo_accuracy_km`, each only when the record has it. The encoded fields are kept in an
//! LRU cache keyed by address, so a repeated address costs one hash lookup and a copy.

use std::fmt;
use std::net::IpAddr;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};

use lru::LruCache;
use maxminddb::Reader;
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::error::{CollectorError, Result};
use crate::event::FieldsWriter;

/// Where an address is, as far as the database knows.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Location {
    /// ISO 3166-1 alpha-2 country code.
    pub country: Option<String>,
    /// First-level subdivision (state, region, province).
    pub region: Option<String>,
    /// City name.
    pub city: Option<String>,
    /// Latitude in degrees.
    pub latitude: Option<f64>,
    /// Longitude in degrees.
    pub longitude: Option<f64>,
    /// Radius in km around the coordinates where the address likely is (GeoIP2 only).
    pub accuracy_radius_km: Option<u32>,
}

impl Location {
    /// The event fields of this location (`"geo_country":"DE",…`).
    pub fn encode(&self) -> Box<[u8]> {
        let mut fields = FieldsWriter::default();
        if let Some(country) = &self.country {
            fields.str("geo_country", country);
        }
        if let Some(region) = &self.region {
            fields.str("geo_region", region);
        }
        if let Some(city) = &self.city {
            fields.str("geo_city", city);
        }
        if let Some(lat) = self.latitude {
            fields.f64("geo_lat", lat);
        }
        if let Some(lon) = self.longitude {
            fields.f64("geo_lon", lon);
        }
        if let Some(radius) = self.accuracy_radius_km {
            fields.uint("geo_accuracy_km", u64::from(radius));
        }
        fields.finish()
    }
}

/// One open database.
struct Database {
    path: PathBuf,
    reader: Reader<Vec<u8>>,
}

/// Counters of the address cache.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Lookups answered from the cache.
    pub hits: u64,
    /// Lookups that went to the database.
    pub misses: u64,
    /// Lookups the database failed (counted as "not found").
    pub errors: u64,
}

/// GeoIP databases with an LRU cache of encoded fields.
pub struct GeoIp {
    databases: Vec<Database>,
    cache: LruCache<IpAddr, Box<[u8]>>,
    stats: CacheStats,
}

impl fmt::Debug for GeoIp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeoIp")
            .field(
                "databases",
                &self.databases.iter().map(|d| &d.path).collect::<Vec<_>>(),
            )
            .field("cache_entries", &self.cache.cap())
            .field("stats", &self.stats)
            .finish()
    }
}

impl GeoIp {
    /// Opens `paths` (read into memory) with a cache of `cache_entries` addresses.
    pub fn open(paths: &[PathBuf], cache_entries: usize) -> Result<Self> {
        if paths.is_empty() {
            return Err(CollectorError::Config(
                "GeoIP needs at least one database".into(),
            ));
        }
        let databases = paths
            .iter()
            .map(|path| {
                let reader = Reader::open_readfile(path).map_err(|e| CollectorError::GeoIp {
                    path: path.clone(),
                    message: e.to_string(),
                })?;
                Ok(Database {
                    path: path.clone(),
                    reader,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let cap = NonZeroUsize::new(cache_entries).ok_or_else(|| {
            CollectorError::Config("the GeoIP cache needs at least one entry".into())
        })?;
        Ok(GeoIp {
            databases,
            cache: LruCache::new(cap),
            stats: CacheStats::default(),
        })
    }

    /// The database files, in lookup order, with their `database_type`.
    pub fn databases(&self) -> Vec<(&Path, &str)> {
        self.databases
            .iter()
            .map(|d| (d.path.as_path(), d.reader.metadata().database_type.as_str()))
            .collect()
    }

    /// Looks `ip` up without the cache.
    pub fn locate(&self, ip: IpAddr) -> Result<Option<Location>> {
        locate_in(&self.databases, ip)
    }

    /// The encoded event fields for the address written as `ip` (empty when the text is not
    /// an address or the databases do not know it), from the cache when it can.
    pub fn fields(&mut self, ip: &str) -> &[u8] {
        let Ok(ip) = ip.parse::<IpAddr>() else {
            return &[];
        };
        let GeoIp {
            databases,
            cache,
            stats,
        } = self;
        let mut hit = true;
        let fields = cache.get_or_insert(ip, || {
            hit = false;
            match locate_in(databases, ip) {
                Ok(Some(location)) => location.encode(),
                Ok(None) => Box::default(),
                Err(e) => {
                    if stats.errors == 0 {
                        tracing::warn!("GeoIP lookup failed (counted, shown once): {e}");
                    }
                    stats.errors += 1;
                    Box::default()
                }
            }
        });
        if hit {
            stats.hits += 1;
        } else {
            stats.misses += 1;
        }
        fields
    }

    /// The cache's counters.
    pub fn stats(&self) -> CacheStats {
        self.stats
    }
}

/// A record of either layout; fields of the other layout stay `None`.
#[derive(Deserialize)]
struct AnyRecord<'a> {
    // @ip-location-db flat layout.
    #[serde(borrow, default)]
    country_code: Option<&'a str>,
    #[serde(borrow, default)]
    state1: Option<&'a str>,
    #[serde(default)]
    latitude: Option<Degrees>,
    #[serde(default)]
    longitude: Option<Degrees>,
    // GeoIP2 layout.
    #[serde(borrow, default)]
    country: Option<Country<'a>>,
    #[serde(default)]
    subdivisions: Option<FirstName>,
    #[serde(default)]
    location: Option<GeoLocation>,
    // A string in the flat layout, `{names: …}` in GeoIP2.
    #[serde(default)]
    city: Option<CityField>,
}

#[derive(Deserialize)]
struct Country<'a> {
    #[serde(borrow, default)]
    iso_code: Option<&'a str>,
}

#[derive(Deserialize)]
struct GeoLocation {
    #[serde(default)]
    latitude: Option<Degrees>,
    #[serde(default)]
    longitude: Option<Degrees>,
    #[serde(default)]
    accuracy_radius: Option<u32>,
}

/// A latitude or longitude: a double in GeoIP2 databases, a single-precision float in the
/// `@ip-location-db` ones (widened through its shortest decimal form, so 52.52 stays 52.52).
#[derive(Clone, Copy)]
struct Degrees(f64);

impl<'de> Deserialize<'de> for Degrees {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Degrees;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a coordinate in degrees")
            }
            fn visit_f32<E: de::Error>(self, v: f32) -> Result<Degrees, E> {
                Ok(Degrees(v.to_string().parse().unwrap_or(f64::from(v))))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Degrees, E> {
                Ok(Degrees(v))
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// A name: a plain string, or a GeoIP2 `{names: {lang: name}}` record (English preferred).
struct CityField(Option<String>);

/// The name of the first element of a GeoIP2 `subdivisions` array.
struct FirstName(Option<String>);

/// The name in a `{names: {…}}` record.
struct NamedRecord(Option<String>);

/// English from a `names` map, else the first language.
struct Names(Option<String>);

impl<'de> Deserialize<'de> for Names {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Names;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of names by language")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Names, A::Error> {
                let (mut english, mut first) = (None, None);
                while let Some((lang, name)) = map.next_entry::<&str, String>()? {
                    if lang == "en" {
                        english = Some(name);
                    } else if first.is_none() {
                        first = Some(name);
                    }
                }
                Ok(Names(english.or(first)))
            }
        }
        deserializer.deserialize_map(V)
    }
}

impl<'de> Deserialize<'de> for NamedRecord {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = NamedRecord;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a record with names")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<NamedRecord, A::Error> {
                let mut name = None;
                while let Some(key) = map.next_key::<&str>()? {
                    if key == "names" {
                        name = map.next_value::<Names>()?.0;
                    } else {
                        map.next_value::<de::IgnoredAny>()?;
                    }
                }
                Ok(NamedRecord(name))
            }
        }
        deserializer.deserialize_map(V)
    }
}

impl<'de> Deserialize<'de> for CityField {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = CityField;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a city name or a record with names")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<CityField, E> {
                Ok(CityField(Some(v.to_string())))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<CityField, A::Error> {
                let record = NamedRecord::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(CityField(record.0))
            }
        }
        deserializer.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for FirstName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = FirstName;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array of subdivisions")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<FirstName, A::Error> {
                let first = seq.next_element::<NamedRecord>()?.and_then(|r| r.0);
                while seq.next_element::<de::IgnoredAny>()?.is_some() {}
                Ok(FirstName(first))
            }
        }
        deserializer.deserialize_seq(V)
    }
}

/// Looks `ip` up in `databases`, in order.
fn locate_in(databases: &[Database], ip: IpAddr) -> Result<Option<Location>> {
    let ip = ip.to_canonical();
    for db in databases {
        if ip.is_ipv6() && db.reader.metadata().ip_version == 4 {
            continue;
        }
        let err = |e: maxminddb::MaxMindDbError| CollectorError::GeoIp {
            path: db.path.clone(),
            message: format!("looking up {ip}: {e}"),
        };
        let result = db.reader.lookup(ip).map_err(err)?;
        if let Some(record) = result.decode::<AnyRecord<'_>>().map_err(err)? {
            return Ok(Some(record.into_location()));
        }
    }
    Ok(None)
}

impl AnyRecord<'_> {
    fn into_location(self) -> Location {
        let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_string());
        let location = self.location.as_ref();
        Location {
            country: self
                .country_code
                .or(self.country.as_ref().and_then(|c| c.iso_code))
                .and_then(non_empty),
            region: self
                .state1
                .and_then(non_empty)
                .or(self.subdivisions.and_then(|s| s.0)),
            city: self.city.and_then(|c| c.0).filter(|c| !c.is_empty()),
            latitude: self
                .latitude
                .or(location.and_then(|l| l.latitude))
                .map(|d| d.0),
            longitude: self
                .longitude
                .or(location.and_then(|l| l.longitude))
                .map(|d| d.0),
            accuracy_radius_km: location.and_then(|l| l.accuracy_radius),
        }
    }
}
