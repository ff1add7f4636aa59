//! Enrichments added to every parsed event: where the client is ([`geoip`]) and what kind of
//! client it is ([`useragent`]). Both keep their results encoded in caches. [`city_db`]
//! writes small databases for tests and benchmarks.

pub mod city_db;
pub mod geoip;
pub mod useragent;

use crate::error::Result;
use crate::event::EventBuf;
use crate::parse::Parsed;

/// The enrichments of one pipeline.
#[derive(Debug)]
pub struct Enricher {
    geoip: Option<geoip::GeoIp>,
    agents: useragent::UserAgents,
}

impl Enricher {
    /// GeoIP from `geoip` when given, and user agents with a cache of `agent_cache_entries`.
    pub fn new(geoip: Option<geoip::GeoIp>, agent_cache_entries: usize) -> Result<Self> {
        Ok(Enricher {
            geoip,
            agents: useragent::UserAgents::new(agent_cache_entries)?,
        })
    }

    /// Appends the fields of what `parsed` found to the event being written.
    pub fn enrich(&mut self, parsed: &Parsed<'_>, out: &mut EventBuf) {
        if let (Some(geoip), Some(ip)) = (&mut self.geoip, &parsed.client_ip) {
            out.fields(geoip.fields(ip));
        }
        if let Some(agent) = &parsed.user_agent {
            out.fields(self.agents.fields(agent));
        }
    }

    /// Looks up ahead the client addresses of a chunk's lines, before they are parsed (see
    /// [`geoip::GeoIp::look_ahead`]).
    pub fn look_ahead<'a>(&mut self, addresses: impl Iterator<Item = &'a [u8]>) {
        if let Some(geoip) = &mut self.geoip {
            geoip.look_ahead(addresses);
        }
    }

    /// The GeoIP databases, if any.
    pub fn geoip(&self) -> Option<&geoip::GeoIp> {
        self.geoip.as_ref()
    }

    /// The user-agent classifier.
    pub fn agents(&self) -> &useragent::UserAgents {
        &self.agents
    }
}
