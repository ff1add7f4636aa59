//! Who may connect: the user `spate`, with the configured password (cleartext or MD5), or
//! without one when none is configured (allowed on loopback addresses only). A refused
//! login is logged with the client's address.

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use futures::Sink;
use pgwire::api::ClientInfo;
use pgwire::api::auth::cleartext::CleartextPasswordAuth;
use pgwire::api::auth::md5pass::{Md5PasswordAuth, hash_md5_password};
use pgwire::api::auth::mechanism::AuthMechanismFactory;
use pgwire::api::auth::{
    AuthDriver, AuthOutcome, AuthSource, DefaultServerParameterProvider, LoginInfo, Password,
    StartupHandler, protocol_negotiation, save_startup_parameters_to_metadata,
};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};

use super::PgAuth;

/// The one user of the endpoint.
pub(super) const USER: &str = "spate";

/// The password, as the mechanisms ask for it.
#[derive(Debug)]
struct Secret {
    password: String,
    md5: bool,
}

#[async_trait]
impl AuthSource for Secret {
    async fn get_password(&self, login: &LoginInfo) -> PgWireResult<Password> {
        let user = login.user().unwrap_or_default();
        Ok(match self.md5 {
            true => {
                let salt = rand::random::<[u8; 4]>().to_vec();
                let hash = hash_md5_password(user, &self.password, &salt);
                Password::new(Some(salt), hash.into_bytes())
            }
            false => Password::new(None, self.password.as_bytes().to_vec()),
        })
    }
}

/// The startup of a connection: the user is checked, then the password if there is one.
pub(super) struct Startup {
    driver: AuthDriver<DefaultServerParameterProvider>,
    mechanism: Option<Box<dyn AuthMechanismFactory>>,
}

impl Startup {
    /// Logins as `spate` with `password` (none: any login as `spate` is let in).
    pub(super) fn new(password: Option<String>, auth: PgAuth) -> Self {
        let mechanism = password.map(|password| {
            let md5 = auth == PgAuth::Md5;
            let secret = Arc::new(Secret { password, md5 });
            match md5 {
                true => Box::new(Md5PasswordAuth::new(secret)) as Box<dyn AuthMechanismFactory>,
                false => Box::new(CleartextPasswordAuth::new(secret)),
            }
        });
        Startup {
            driver: AuthDriver::new(DefaultServerParameterProvider::default()),
            mechanism,
        }
    }
}

/// A FATAL error of the login.
fn refused(code: &str, message: String) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "FATAL".to_string(),
        code.to_string(),
        message,
    )))
}

#[async_trait]
impl StartupHandler for Startup {
    async fn on_startup<C>(
        &self,
        client: &mut C,
        message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let outcome = match message {
            PgWireFrontendMessage::Startup(ref startup) => {
                protocol_negotiation(client, startup).await?;
                save_startup_parameters_to_metadata(client, startup);
                let user = client.metadata().get("user").cloned().unwrap_or_default();
                if user != USER {
                    tracing::warn!(
                        peer = %client.socket_addr(),
                        user = %user,
                        "PostgreSQL endpoint: login refused, unknown user"
                    );
                    return Err(refused(
                        "28000",
                        format!("role \"{user}\" does not exist: connect as user \"{USER}\""),
                    ));
                }
                match &self.mechanism {
                    Some(factory) => {
                        self.driver
                            .begin_authentication(client, factory.create())
                            .await?
                    }
                    None => AuthOutcome::Authenticated {
                        identity: None,
                        final_message: None,
                    },
                }
            }
            PgWireFrontendMessage::PasswordMessageFamily(password) => {
                match self.driver.advance_authentication(client, password).await {
                    Ok(outcome) => outcome,
                    Err(e) => {
                        tracing::warn!(
                            peer = %client.socket_addr(),
                            user = USER,
                            "PostgreSQL endpoint: login refused, wrong password"
                        );
                        return Err(match e {
                            PgWireError::InvalidPassword(_) => refused(
                                "28P01",
                                format!("password authentication failed for user \"{USER}\""),
                            ),
                            e => e,
                        });
                    }
                }
            }
            _ => return Ok(()),
        };
        match outcome {
            AuthOutcome::InProgress => Ok(()),
            AuthOutcome::Authenticated { final_message, .. } => {
                self.driver
                    .complete_authentication(client, final_message)
                    .await
            }
        }
    }
}
