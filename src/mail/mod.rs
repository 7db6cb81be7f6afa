//! Outgoing e-mail. A message is rendered where it is caused (a request, a job), sealed with
//! the keyring (account links carry one-time tokens: the jobs table must not hold them in
//! clear), and queued as a `mail.send` job in the causing transaction; the job sends it
//! through SMTP (`PLUGS_SMTP_URL`, `lettre` over rustls) and retries with backoff when the
//! relay fails, so a relay that is down never fails the member's request. Without SMTP the
//! message is written to the log instead (development; in production only the envelope is
//! logged, never a body with its links).
//!
//! Templates live in `templates/mail/` (a plain-text and an HTML body each), with `{{name}}`
//! placeholders; values are HTML-escaped in the HTML body.

use std::sync::Arc;
use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use sea_orm::ConnectionTrait;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::AppError;

/// `PLUGS_SMTP_URL`, `PLUGS_MAIL_FROM`, and where links in mail point (`PLUGS_PUBLIC_URL`).
#[derive(Clone, Debug)]
pub struct MailConfig {
    /// `smtp://host:port` (plain, for a local relay), `smtp://host?tls=required` (STARTTLS),
    /// `smtps://user:pass@host` (TLS); `None`: mail is written to the log.
    pub smtp_url: Option<String>,
    /// The sender, `Name <address>` or `address`.
    pub from: String,
    /// Base of the links in mail (`https://app.example.com`).
    pub public_url: String,
    /// Production logs only envelopes when no SMTP is configured.
    pub log_bodies: bool,
}

impl Default for MailConfig {
    fn default() -> Self {
        Self {
            smtp_url: None,
            from: DEFAULT_FROM.into(),
            public_url: "http://127.0.0.1:8080".into(),
            log_bodies: true,
        }
    }
}

pub const DEFAULT_FROM: &str = "The Plugs <no-reply@localhost>";

/// One rendered message.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Message {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// The product's mail templates.
#[derive(Clone, Copy, Debug)]
pub enum Template {
    Invitation,
    Verification,
    PasswordReset,
    Notification,
}

impl Template {
    fn bodies(self) -> (&'static str, &'static str) {
        match self {
            Self::Invitation => (
                include_str!("../../templates/mail/invitation.txt"),
                include_str!("../../templates/mail/invitation.html"),
            ),
            Self::Verification => (
                include_str!("../../templates/mail/verification.txt"),
                include_str!("../../templates/mail/verification.html"),
            ),
            Self::PasswordReset => (
                include_str!("../../templates/mail/password_reset.txt"),
                include_str!("../../templates/mail/password_reset.html"),
            ),
            Self::Notification => (
                include_str!("../../templates/mail/notification.txt"),
                include_str!("../../templates/mail/notification.html"),
            ),
        }
    }

    /// The message to `to` with this template's bodies filled from `vars`.
    pub fn render(self, to: &str, subject: String, vars: &[(&str, &str)]) -> Message {
        let (text, html) = self.bodies();
        Message {
            to: to.to_owned(),
            subject: one_line(&subject),
            text: fill(text, vars, |v| v.to_owned()),
            html: fill(html, vars, escape_html),
        }
    }
}

/// Header values are one line: a CR or LF in a subject must never start a header of its own.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .chars()
        .take(200)
        .collect()
}

fn fill(template: &str, vars: &[(&str, &str)], escape: impl Fn(&str) -> String) -> String {
    let mut out = String::with_capacity(template.len() + 256);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find("}}") {
            Some(end) => {
                let name = after[..end].trim();
                match vars.iter().find(|(k, _)| *k == name) {
                    Some((_, v)) => out.push_str(&escape(v)),
                    None => debug_assert!(false, "mail template names an unknown {{{{{name}}}}}"),
                }
                rest = &after[end + 2..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Sends rendered messages: through SMTP, or to the log.
#[derive(Clone)]
pub struct Mailer {
    inner: Arc<Inner>,
}

enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Log { bodies: bool },
}

struct Inner {
    transport: Transport,
    from: Mailbox,
}

/// How long one SMTP conversation may take before the attempt fails (and is retried).
const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

impl Mailer {
    pub fn new(config: &MailConfig) -> Result<Self, String> {
        let from: Mailbox = config
            .from
            .parse()
            .map_err(|e| format!("PLUGS_MAIL_FROM {:?} is not an address: {e}", config.from))?;
        let transport = match &config.smtp_url {
            None => Transport::Log {
                bodies: config.log_bodies,
            },
            Some(url) => Transport::Smtp(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .map_err(|e| format!("PLUGS_SMTP_URL is not an SMTP URL: {e}"))?
                    .timeout(Some(SMTP_TIMEOUT))
                    .build(),
            ),
        };
        Ok(Self {
            inner: Arc::new(Inner { transport, from }),
        })
    }

    /// Sends one message; an error is worth another attempt (the relay may come back) unless
    /// it says the message itself is wrong.
    pub async fn send(&self, msg: &Message) -> Result<(), SendError> {
        let to: Mailbox = msg
            .to
            .parse()
            .map_err(|e| SendError::Permanent(format!("recipient {:?}: {e}", msg.to)))?;
        match &self.inner.transport {
            Transport::Log { bodies } => {
                if *bodies {
                    tracing::info!(to = %msg.to, subject = %msg.subject, "e-mail (no SMTP configured):\n{}", msg.text);
                } else {
                    tracing::warn!(to = %msg.to, subject = %msg.subject, "e-mail not sent: PLUGS_SMTP_URL is not set");
                }
                Ok(())
            }
            Transport::Smtp(smtp) => {
                let email = lettre::Message::builder()
                    .from(self.inner.from.clone())
                    .to(to)
                    .subject(msg.subject.clone())
                    .multipart(MultiPart::alternative_plain_html(
                        msg.text.clone(),
                        msg.html.clone(),
                    ))
                    .map_err(|e| SendError::Permanent(format!("building the message: {e}")))?;
                match smtp.send(email).await {
                    Ok(_) => Ok(()),
                    Err(e) if e.is_permanent() => {
                        Err(SendError::Permanent(format!("the relay refused: {e}")))
                    }
                    Err(e) => Err(SendError::Retry(format!("the relay failed: {e}"))),
                }
            }
        }
    }
}

#[derive(Debug)]
pub enum SendError {
    Retry(String),
    Permanent(String),
}

/// What request-side code needs to queue mail: the key that seals messages in the queue, and
/// where links point.
#[derive(Clone)]
pub struct Composer {
    pub keyring: crate::crypto::Keyring,
    pub public_url: String,
}

const SEAL_AAD: &str = "plugs mail v1";

impl Composer {
    pub fn new(keyring: crate::crypto::Keyring, public_url: &str) -> Self {
        Self {
            keyring,
            public_url: public_url.trim_end_matches('/').to_owned(),
        }
    }

    /// `{public_url}{path}?token={token}`.
    pub fn link(&self, path: &str, token: &str) -> String {
        format!("{}{path}?token={token}", self.public_url)
    }

    /// Queues `msg` in `conn`'s transaction (sent by a `mail.send` job once it commits).
    pub async fn queue(
        &self,
        conn: &impl ConnectionTrait,
        organization_id: Uuid,
        msg: &Message,
    ) -> Result<(), AppError> {
        let json = serde_json::to_vec(msg)
            .map_err(|e| AppError::Internal(format!("serializing a message: {e}")))?;
        let job = crate::jobs::kinds::SendMail {
            organization_id,
            sealed: self.keyring.encrypt(&json, SEAL_AAD),
        };
        crate::jobs::enqueue_for(conn, organization_id, &job, Default::default()).await?;
        Ok(())
    }
}

/// Opens a message sealed by `Composer::queue`.
pub fn open(keyring: &crate::crypto::Keyring, sealed: &str) -> Result<Message, String> {
    let bytes = keyring
        .decrypt(sealed, SEAL_AAD)
        .map_err(|e| format!("unsealing a queued message: {e:?}"))?;
    serde_json::from_slice(&bytes).map_err(|e| format!("a queued message: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_fill_every_placeholder_and_escape_html_only_in_html() {
        let msg = Template::Notification.render(
            "a@example.com",
            "Hi\r\nBcc: evil@example.com".into(),
            &[
                ("first_name", "Ann"),
                ("title", "<b>Tom & Jerry</b>"),
                ("message", "line"),
                ("organization", "Acme"),
            ],
        );
        assert_eq!(msg.subject, "Hi  Bcc: evil@example.com");
        assert!(msg.text.contains("<b>Tom & Jerry</b>"));
        assert!(msg.html.contains("&lt;b&gt;Tom &amp; Jerry&lt;/b&gt;"));
        assert!(!msg.text.contains("{{") && !msg.html.contains("{{"));
    }
}
