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
//! `geo_accuracy_km`, each only when the record has it. The encoded fields are cached by
//! address and by record (see [`GeoIp`]), so a repeated address costs one hash lookup and a
//! copy, and a new address in a known network a walk down the search tree. The new addresses
//! of a chunk of Common Log Format lines are looked up before it is parsed, sixteen walks
//! at a time ([`GeoIp::look_ahead`]).

use std::fmt;
use std::fs::File;
use std::io::Read;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hashbrown::HashMap;
use maxminddb::{LookupResult, Reader};
use memmap2::MmapMut;
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

/// A database file's bytes, shared by its reader and its [`SearchTree`].
#[derive(Clone)]
struct FileBytes(Arc<MmapMut>);

impl AsRef<[u8]> for FileBytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// One open database.
struct Database {
    path: PathBuf,
    reader: Reader<FileBytes>,
    tree: SearchTree,
}

impl Database {
    /// Reads the database at `path` into memory.
    ///
    /// A lookup walks the database's search tree from the root, one node per bit of the
    /// address, and the deep nodes are spread over tens of MiB: with 4 KiB pages nearly every
    /// step would also miss the TLB. The file is therefore read into anonymous memory that
    /// the kernel is asked to back with huge pages (`MADV_HUGEPAGE`, honoured when
    /// transparent huge pages are `always` or `madvise`). With DB-IP City Lite, `spate bench
    /// collect` enriched 12 % faster so.
    fn open(path: &Path) -> Result<Self> {
        let err = |message: String| CollectorError::GeoIp {
            path: path.to_path_buf(),
            message,
        };
        let mut file = File::open(path).map_err(|e| err(e.to_string()))?;
        let len = file.metadata().map_err(|e| err(e.to_string()))?.len();
        if len == 0 {
            return Err(err("the file is empty".into()));
        }
        let len = usize::try_from(len).map_err(|e| err(e.to_string()))?;
        let mut memory = MmapMut::map_anon(len).map_err(|e| err(e.to_string()))?;
        #[cfg(unix)]
        if let Err(e) = memory.advise(memmap2::Advice::HugePage) {
            tracing::debug!("no huge pages for {}: {e}", path.display());
        }
        file.read_exact(&mut memory)
            .map_err(|e| err(e.to_string()))?;
        let bytes = FileBytes(Arc::new(memory));
        let reader = Reader::from_source(bytes.clone()).map_err(|e| err(e.to_string()))?;
        let tree = SearchTree::new(bytes, reader.metadata());
        Ok(Database {
            path: path.to_path_buf(),
            reader,
            tree,
        })
    }

    /// The record `ip` falls in, if the database can hold `ip` at all.
    fn lookup(&self, ip: IpAddr) -> Result<Option<LookupResult<'_, FileBytes>>> {
        if ip.is_ipv6() && self.reader.metadata().ip_version == 4 {
            return Ok(None);
        }
        self.reader
            .lookup(ip)
            .map(Some)
            .map_err(|e| self.error(ip, e))
    }

    /// The location in the record `result` found.
    fn decode(&self, ip: IpAddr, result: &LookupResult<'_, FileBytes>) -> Result<Option<Location>> {
        let record = result
            .decode::<AnyRecord<'_>>()
            .map_err(|e| self.error(ip, e))?;
        Ok(record.map(AnyRecord::into_location))
    }

    fn error(&self, ip: IpAddr, e: maxminddb::MaxMindDbError) -> CollectorError {
        CollectorError::GeoIp {
            path: self.path.clone(),
            message: format!("looking up {ip}: {e}"),
        }
    }
}

/// Addresses whose search-tree walks [`SearchTree::walk_v4`] interleaves.
const WALK_WIDTH: usize = 16;

/// A database's search tree, read directly to walk several IPv4 addresses at once.
///
/// `maxminddb` walks one address at a time: each step reads a node that the step before
/// named, and the deep nodes are spread over tens of MiB, so a walk is a chain of cache
/// misses, one after the other. Walking [`WALK_WIDTH`] addresses step by step together lets
/// the processor wait for their reads at the same time. The tree's layout is the MaxMind DB
/// format's: `node_count` nodes of two records of 24, 28 or 32 bits; a record equal to
/// `node_count` means no data, and one above it points into the data section.
struct SearchTree {
    bytes: FileBytes,
    node_count: usize,
    record_size: u16,
    /// The node IPv4 addresses start from (below 96 zero bits in an IPv6 tree).
    ipv4_start: usize,
}

impl SearchTree {
    fn new(bytes: FileBytes, metadata: &maxminddb::Metadata) -> Self {
        let mut tree = SearchTree {
            bytes,
            node_count: metadata.node_count as usize,
            record_size: metadata.record_size,
            ipv4_start: 0,
        };
        if metadata.ip_version == 6 {
            for _ in 0..96 {
                if tree.ipv4_start >= tree.node_count {
                    break;
                }
                tree.ipv4_start = tree.record(tree.ipv4_start, 0);
            }
        }
        tree
    }

    /// The left (`bit` 0) or right record of `node`.
    #[inline(always)]
    fn record(&self, node: usize, bit: usize) -> usize {
        let b = self.bytes.as_ref();
        let be = |at: usize, len: usize| {
            b[at..at + len]
                .iter()
                .fold(0usize, |v, &byte| v << 8 | usize::from(byte))
        };
        match self.record_size {
            24 => be(node * 6 + bit * 3, 3),
            28 => {
                let at = node * 7;
                let nibble = usize::from(b[at + 3]);
                if bit == 0 {
                    (nibble & 0xF0) << 20 | be(at, 3)
                } else {
                    (nibble & 0x0F) << 24 | be(at + 4, 3)
                }
            }
            _ => be(node * 8 + bit * 4, 4),
        }
    }

    /// Walks the tree for each of `addresses` (at most [`WALK_WIDTH`]) together, and writes
    /// into `found` each one's record offset in the data section (as
    /// [`LookupResult::offset`] gives it), or `None` when the tree has no data for it.
    fn walk_v4(&self, addresses: &[u32], found: &mut [Option<usize>]) {
        let n = addresses.len();
        let mut nodes = [self.ipv4_start; WALK_WIDTH];
        for depth in 0..32 {
            let mut walking = false;
            for (node, address) in nodes[..n].iter_mut().zip(addresses) {
                if *node < self.node_count {
                    *node = self.record(*node, (address >> (31 - depth) & 1) as usize);
                    walking = true;
                }
            }
            if !walking {
                break;
            }
        }
        for (slot, &node) in found.iter_mut().zip(&nodes[..n]) {
            *slot = node.checked_sub(self.node_count + 16);
        }
    }
}

/// The index in `GeoIp::records` of no location.
const NOWHERE: u32 = 0;

/// Counters of the caches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Lookups answered from the address cache (with those of addresses looked up ahead).
    pub hits: u64,
    /// Addresses looked up in the databases, when their line came or ahead of it.
    pub misses: u64,
    /// Of the misses, those looked up ahead of their line ([`GeoIp::look_ahead`]), which
    /// then counted as a hit.
    pub looked_ahead: u64,
    /// Records decoded: misses whose record no other cached address had fetched yet.
    pub decoded: u64,
    /// Misses for an address no database knows.
    pub unknown: u64,
    /// Lookups the database failed (counted as "not found").
    pub errors: u64,
}

impl CacheStats {
    /// The share of lines whose address was in the address cache before anything looked
    /// it up for them.
    pub fn hit_rate(&self) -> f64 {
        // A line looked up ahead may have been a dead letter, never asking.
        let hits = self.hits.saturating_sub(self.looked_ahead);
        hits as f64 / (hits + self.misses).max(1) as f64
    }
}

/// GeoIP databases with two caches: addresses to their record, and records to their
/// encoded fields.
///
/// A database maps many networks to one record (a city), and every address of a network to
/// its record, so an address missing from the address cache usually costs a walk down the
/// database's search tree and a lookup by the record's place in the file; only a record not
/// seen since the caches were last emptied is decoded.
///
/// Each cache is a plain hash map (hashbrown) bounded by emptying it when full: the most
/// frequent addresses are back after a few misses. On `spate bench collect`'s traffic a
/// lookup in it took 12–16 ns against 45–90 ns in quick_cache (CLOCK-Pro, an LRU's hit rate
/// or better) of the same size, and the line's other work is only about 500 ns.
pub struct GeoIp {
    databases: Vec<Database>,
    /// IPv4 address → index in `records` (apart from IPv6 so that its entries take 8 bytes,
    /// and more of them stay in the processor's caches).
    ipv4_addresses: HashMap<u32, u32>,
    /// IPv6 address → index in `records`.
    ipv6_addresses: HashMap<u128, u32>,
    /// (database, offset of the record in it) → index in `records`.
    record_places: HashMap<(usize, usize), u32>,
    /// Encoded fields; the first, empty, is no location (an address no database knows).
    records: Records,
    /// Entries each cache holds before it is emptied.
    capacity: usize,
    stats: CacheStats,
}

impl fmt::Debug for GeoIp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeoIp")
            .field(
                "databases",
                &self.databases.iter().map(|d| &d.path).collect::<Vec<_>>(),
            )
            .field("cache_entries", &self.capacity)
            .field("stats", &self.stats)
            .finish()
    }
}

impl GeoIp {
    /// Opens `paths` (read into memory, on huge pages where the kernel allows) with caches of `cache_entries` addresses and as many
    /// records.
    pub fn open(paths: &[PathBuf], cache_entries: usize) -> Result<Self> {
        if paths.is_empty() {
            return Err(CollectorError::Config(
                "GeoIP needs at least one database".into(),
            ));
        }
        if cache_entries == 0 {
            return Err(CollectorError::Config(
                "the GeoIP cache needs at least one entry".into(),
            ));
        }
        let databases = paths
            .iter()
            .map(|path| Database::open(path))
            .collect::<Result<Vec<_>>>()?;
        Ok(GeoIp {
            databases,
            ipv4_addresses: HashMap::new(),
            ipv6_addresses: HashMap::new(),
            record_places: HashMap::new(),
            records: Records::default(),
            // Record indexes are u32.
            capacity: cache_entries.min(u32::MAX as usize - 1),
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

    /// Looks `ip` up without the caches.
    pub fn locate(&self, ip: IpAddr) -> Result<Option<Location>> {
        let ip = ip.to_canonical();
        for db in &self.databases {
            if let Some(result) = db.lookup(ip)?
                && result.has_data()
            {
                return db.decode(ip, &result);
            }
        }
        Ok(None)
    }

    /// The encoded event fields for the address written as `ip` (empty when the text is not
    /// an address or the databases do not know it), from the caches when they can.
    pub fn fields(&mut self, ip: &str) -> &[u8] {
        let ip = match parse_ipv4(ip.as_bytes()) {
            Some(v4) => IpAddr::V4(v4.into()),
            None => match ip.parse::<IpAddr>() {
                Ok(ip) => ip.to_canonical(),
                Err(_) => return &[],
            },
        };
        let cached = match ip {
            IpAddr::V4(v4) => self.ipv4_addresses.get(&v4.to_bits()),
            IpAddr::V6(v6) => self.ipv6_addresses.get(&v6.to_bits()),
        };
        if let Some(&index) = cached {
            self.stats.hits += 1;
            return self.records.get(index);
        }
        self.stats.misses += 1;
        let index = match self.record_index(ip) {
            Ok(Some(index)) => index,
            Ok(None) => {
                self.stats.unknown += 1;
                NOWHERE
            }
            Err(e) => {
                if self.stats.errors == 0 {
                    tracing::warn!("GeoIP lookup failed (counted, shown once): {e}");
                }
                self.stats.errors += 1;
                NOWHERE
            }
        };
        match ip {
            IpAddr::V4(v4) => {
                insert_bounded(&mut self.ipv4_addresses, v4.to_bits(), index, self.capacity)
            }
            IpAddr::V6(v6) => {
                insert_bounded(&mut self.ipv6_addresses, v6.to_bits(), index, self.capacity)
            }
        }
        self.records.get(index)
    }

    /// Looks up ahead the IPv4 addresses among `addresses` (the client address of each line
    /// of a chunk, before the chunk is parsed) that the address cache lacks, walking the
    /// first database's tree for [`WALK_WIDTH`] of them at once, so that the lines find
    /// them cached. An address the first database does not hold, or whose record was not
    /// decoded yet, is left to [`GeoIp::fields`].
    pub fn look_ahead<'a>(&mut self, addresses: impl Iterator<Item = &'a [u8]>) {
        let Some(db) = self.databases.first() else {
            return;
        };
        let mut misses = Vec::new();
        for text in addresses {
            if let Some(v4) = parse_ipv4(text)
                && !self.ipv4_addresses.contains_key(&v4)
            {
                misses.push(v4);
            }
        }
        // Each address walked once; in order, neighbours share the top of their paths.
        misses.sort_unstable();
        misses.dedup();
        let mut found = [None; WALK_WIDTH];
        for group in misses.chunks(WALK_WIDTH) {
            db.tree.walk_v4(group, &mut found);
            for (&v4, offset) in group.iter().zip(&found) {
                if let Some(&index) = offset.and_then(|o| self.record_places.get(&(0, o))) {
                    self.stats.misses += 1;
                    self.stats.looked_ahead += 1;
                    insert_bounded(&mut self.ipv4_addresses, v4, index, self.capacity);
                }
            }
        }
    }

    /// The index in `records` of the first record any database has for `ip`.
    fn record_index(&mut self, ip: IpAddr) -> Result<Option<u32>> {
        for (database, db) in self.databases.iter().enumerate() {
            let Some(result) = db.lookup(ip)? else {
                continue;
            };
            let Some(offset) = result.offset() else {
                continue;
            };
            if let Some(&index) = self.record_places.get(&(database, offset)) {
                return Ok(Some(index));
            }
            let location = db.decode(ip, &result)?.unwrap_or_default();
            self.stats.decoded += 1;
            if self.records.len() > self.capacity {
                // Every cached address points into the records: all the caches start again.
                self.records.clear();
                self.record_places.clear();
                self.ipv4_addresses.clear();
                self.ipv6_addresses.clear();
            }
            let index = self.records.push(&location.encode());
            self.record_places.insert((database, offset), index);
            return Ok(Some(index));
        }
        Ok(None)
    }

    /// The caches' counters.
    pub fn stats(&self) -> CacheStats {
        self.stats
    }
}

/// Records' encoded fields, back to back in one buffer (denser than a box each, so more of
/// the frequent ones stay in the processor's caches); the first, empty, is no location.
#[derive(Debug)]
struct Records {
    bytes: Vec<u8>,
    /// Each record's start and end in `bytes`.
    spans: Vec<(u32, u32)>,
}

impl Default for Records {
    fn default() -> Self {
        Records {
            bytes: Vec::new(),
            spans: vec![(0, 0)],
        }
    }
}

impl Records {
    fn len(&self) -> usize {
        self.spans.len()
    }

    fn get(&self, index: u32) -> &[u8] {
        let (start, end) = self.spans[index as usize];
        &self.bytes[start as usize..end as usize]
    }

    /// Appends a record; returns its index.
    fn push(&mut self, fields: &[u8]) -> u32 {
        let index = u32::try_from(self.spans.len()).expect("at most u32::MAX records");
        let start = u32::try_from(self.bytes.len()).expect("records within 4 GiB");
        self.bytes.extend_from_slice(fields);
        let end = u32::try_from(self.bytes.len()).expect("records within 4 GiB");
        self.spans.push((start, end));
        index
    }

    /// Keeps only the empty record.
    fn clear(&mut self) {
        self.bytes.clear();
        self.spans.truncate(1);
    }
}

/// Inserts into a cache map, emptying it first when it holds `capacity` entries.
fn insert_bounded<K: std::hash::Hash + Eq>(
    map: &mut HashMap<K, u32>,
    key: K,
    index: u32,
    capacity: usize,
) {
    if map.len() >= capacity {
        map.clear();
    }
    map.insert(key, index);
}

/// A dotted-quad IPv4 address, the form logs write nearly always, parsed faster than the
/// standard library's parser of every address form; `None` for anything else (which that
/// parser then reads). Like it, octets with leading zeros are refused.
fn parse_ipv4(text: &[u8]) -> Option<u32> {
    let (mut address, mut octet, mut digits, mut dots) = (0u32, 0u32, 0, 0);
    for &byte in text {
        match byte {
            b'0'..=b'9' => {
                if digits == 3 || (digits > 0 && octet == 0) {
                    return None;
                }
                octet = octet * 10 + u32::from(byte - b'0');
                digits += 1;
            }
            b'.' if digits > 0 && octet <= 255 && dots < 3 => {
                address = address << 8 | octet;
                (octet, digits, dots) = (0, 0, dots + 1);
            }
            _ => return None,
        }
    }
    (dots == 3 && digits > 0 && octet <= 255).then_some(address << 8 | octet)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::enrich::city_db;

    #[test]
    fn the_ipv4_parser_agrees_with_the_standard_one() {
        let texts = [
            "192.0.2.1",
            "0.0.0.0",
            "255.255.255.255",
            "10.0.0.255",
            "1.2.3",
            "1.2.3.4.5",
            "256.1.1.1",
            "1.2.3.256",
            "01.2.3.4",
            "1.2.3.04",
            "1..2.3",
            ".1.2.3",
            "1.2.3.",
            "1.2.3.4 ",
            "1234.1.1.1",
            "",
            "::ffff:192.0.2.1",
            "2001:db8::1",
            "a.b.c.d",
            "999.1.1.1",
            "1.2.3.0",
            "100.200.10.0",
        ];
        for text in texts {
            let ours = parse_ipv4(text.as_bytes());
            let std = text.parse::<std::net::Ipv4Addr>().ok().map(u32::from);
            assert_eq!(ours, std, "{text:?}");
        }
        for bits in [0u32, 1, 0x0a00_0001, 0xc000_0201, 0xdead_beef, u32::MAX] {
            let text = std::net::Ipv4Addr::from(bits).to_string();
            assert_eq!(parse_ipv4(text.as_bytes()), Some(bits), "{text}");
        }
    }

    /// A pseudo-random sequence (xorshift), the same on every run.
    fn randoms(mut state: u64) -> impl Iterator<Item = u32> {
        std::iter::from_fn(move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            Some((state >> 16) as u32)
        })
    }

    #[test]
    fn walking_many_addresses_at_once_finds_what_the_reader_finds() {
        use mmdb_writer::{IpVersion, RecordSize, Writer};
        let dir = tempfile::tempdir().unwrap();
        let mut random = randoms(0x5eed);
        let networks: Vec<(std::net::Ipv4Addr, u8)> = (0..400)
            .map(|_| {
                let prefix = 8 + (random.next().unwrap() % 25) as u8;
                (random.next().unwrap().into(), prefix)
            })
            .collect();
        for version in [IpVersion::V4, IpVersion::V6] {
            for size in [RecordSize::Bits24, RecordSize::Bits28, RecordSize::Bits32] {
                let mut writer = Writer::builder("spate-test-tree")
                    .ip_version(version)
                    .record_size(size)
                    .build();
                for (i, &(address, prefix)) in networks.iter().enumerate() {
                    let net = mmdb_writer::ipnet::Ipv4Net::new(address, prefix)
                        .unwrap()
                        .trunc();
                    writer.insert(net, &(i as u32)).unwrap();
                }
                let path = dir.path().join(format!("{version:?}-{size:?}.mmdb"));
                std::fs::write(&path, writer.to_bytes().unwrap()).unwrap();
                let db = Database::open(&path).unwrap();
                // Addresses in and around every network, and anywhere.
                let mut addresses: Vec<u32> = networks
                    .iter()
                    .flat_map(|&(a, _)| [u32::from(a), u32::from(a).wrapping_sub(1)])
                    .chain(random.by_ref().take(2000))
                    .collect();
                addresses.extend([0, u32::MAX]);
                let mut found = [None; WALK_WIDTH];
                let mut checked = (0, 0);
                // Groups of every size up to the width.
                let mut rest = addresses.as_slice();
                for width in (1..=WALK_WIDTH).cycle() {
                    if rest.is_empty() {
                        break;
                    }
                    let (group, after) = rest.split_at(width.min(rest.len()));
                    rest = after;
                    db.tree.walk_v4(group, &mut found);
                    for (&v4, &ours) in group.iter().zip(&found) {
                        let result = db.reader.lookup(IpAddr::V4(v4.into())).unwrap();
                        assert_eq!(ours, result.offset(), "{version:?} {size:?} {v4:#x}");
                        checked.0 += usize::from(ours.is_some());
                        checked.1 += 1;
                    }
                }
                assert!(
                    checked.0 > 100 && checked.0 < checked.1,
                    "found {} of {}",
                    checked.0,
                    checked.1
                );
            }
        }
    }

    #[test]
    fn the_hit_rate_counts_addresses_looked_up_ahead_as_misses() {
        let stats = |hits, misses, looked_ahead| CacheStats {
            hits,
            misses,
            looked_ahead,
            ..CacheStats::default()
        };
        assert_eq!(stats(9, 1, 0).hit_rate(), 0.9);
        // Two lines looked up ahead, then found cached.
        assert_eq!(stats(10, 3, 2).hit_rate(), 8.0 / 11.0);
        // Lines looked up ahead that were dead letters and never asked.
        assert_eq!(stats(0, 3, 3).hit_rate(), 0.0);
    }

    #[test]
    fn looking_ahead_changes_no_answer() {
        let dir = tempfile::tempdir().unwrap();
        let mut random = randoms(7);
        let entries: Vec<_> = (0..300)
            .map(|i| {
                let net = mmdb_writer::ipnet::Ipv4Net::new(random.next().unwrap().into(), 16)
                    .unwrap()
                    .trunc();
                let location = Location {
                    country: Some(format!("C{}", i % 7)),
                    city: Some(format!("city {i}")),
                    ..Location::default()
                };
                (net.into(), location)
            })
            .collect();
        let path = dir.path().join("city.mmdb");
        std::fs::write(
            &path,
            city_db::write(city_db::Layout::Flat, &entries).unwrap(),
        )
        .unwrap();
        let texts: Vec<String> = random
            .take(3000)
            .map(|a| std::net::Ipv4Addr::from(a % 4096 * 1_048_583).to_string())
            .collect();
        let mut plain = GeoIp::open(std::slice::from_ref(&path), 1000).unwrap();
        let mut ahead = GeoIp::open(&[path], 1000).unwrap();
        for chunk in texts.chunks(100) {
            ahead.look_ahead(chunk.iter().map(|t| t.as_bytes()));
            for text in chunk {
                assert_eq!(ahead.fields(text), plain.fields(text), "{text}");
            }
        }
        let stats = ahead.stats();
        assert_eq!(stats.hits + stats.misses - stats.looked_ahead, 3000);
        assert!(
            stats.looked_ahead > 0 && stats.misses > stats.looked_ahead,
            "{stats:?}"
        );
        assert_eq!(
            plain.stats().misses,
            stats.misses,
            "the same addresses looked up"
        );
    }
}
