//! Accounts by e-mail (not in seed 004, which has only `users.is_verified`/`verified_at`):
//!
//! - `account_tokens`: one-time links mailed to a member: an invitation (7 days), an address
//!   verification (`email` is the address it proves), a password reset (1 hour). Only the
//!   SHA-256 of the token is stored; `used_at` makes it single-use (set by a guarded UPDATE).
//! - `two_factor_credentials`: a member's TOTP secret (encrypted with the keyring), confirmed
//!   or still pending, and the last time step accepted (a code works once).
//! - `recovery_codes`: ten single-use codes per confirmed credential, stored hashed.
//! - `users.settings`: the member's preferences (which notifications also go by e-mail).
//! - `event_attendees.reminded_at`: when the 24-hour reminder went out (once per registration).

use crate::schema::{TableDef, drop_tables, iden, index};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        let cascade = Some(ForeignKeyAction::Cascade);
        TableDef::new("account_tokens", backend)
            .organization(true, true)
            .fk("user_id", "users", true, cascade)
            .enumeration(
                "purpose",
                20,
                &["invitation", "verification", "password_reset"],
                None,
            )
            .string("token_hash", 64, true)
            .string("email", 255, false)
            .fk(
                "created_by",
                "users",
                false,
                Some(ForeignKeyAction::SetNull),
            )
            .timestamptz("expires_at", true)
            .timestamptz("used_at", false)
            .timestamps()
            .unique("account_tokens_token_hash_key", &["token_hash"])
            .create(manager)
            .await?;
        index(
            manager,
            "idx_account_tokens_user",
            "account_tokens",
            &["user_id", "purpose"],
            None,
        )
        .await?;
        TableDef::new("two_factor_credentials", backend)
            .organization(true, true)
            .fk("user_id", "users", true, cascade)
            .text("secret", true)
            .timestamptz("confirmed_at", false)
            .integer("last_used_step", None)
            .timestamps()
            .unique("two_factor_credentials_user_key", &["user_id"])
            .create(manager)
            .await?;
        TableDef::new("recovery_codes", backend)
            .organization(true, true)
            .fk("user_id", "users", true, cascade)
            .string("code_hash", 64, true)
            .timestamptz("used_at", false)
            .timestamps()
            .unique("recovery_codes_user_code_key", &["user_id", "code_hash"])
            .create(manager)
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(iden("users"))
                    .add_column(
                        ColumnDef::new(iden("settings"))
                            .json_binary()
                            .not_null()
                            .default("{}"),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(iden("event_attendees"))
                    .add_column(
                        ColumnDef::new(iden("reminded_at"))
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (table, col) in [("event_attendees", "reminded_at"), ("users", "settings")] {
            manager
                .alter_table(
                    Table::alter()
                        .table(iden(table))
                        .drop_column(iden(col))
                        .to_owned(),
                )
                .await?;
        }
        drop_tables(
            manager,
            &["recovery_codes", "two_factor_credentials", "account_tokens"],
        )
        .await
    }
}
