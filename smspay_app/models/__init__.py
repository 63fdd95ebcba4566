"""SQLModel tables, one module per aggregate. Times are naive UTC; money is
integer yen. Import this package to register every table on ``SQLModel.metadata``.
The campaign counters' session hooks are installed by ``db.engine_for``
(``services.stats.install_counters``), not by importing this package."""

from smspay_app.models.account import RecoveryCode, SetupToken, SignInChallenge, SignInFailure, SignupApplication
from smspay_app.models.api import ApiKey, IdempotencyRecord, WebhookDelivery, WebhookEndpoint
from smspay_app.models.campaign import Campaign, CampaignQuestion, InvoiceLine
from smspay_app.models.connection import Connection
from smspay_app.models.limits import SharedLimitHit, SharedLimitKey
from smspay_app.models.link import Link
from smspay_app.models.messaging import InboundMessage, OptOut, SendAttempt
from smspay_app.models.organisation import AuditLog, AuthSession, Organisation, User
from smspay_app.models.payment import Payment, WebhookEvent
from smspay_app.models.recipient import IdentityAnswer, Recipient, RecipientImport, TimelineEvent
from smspay_app.models.stats import CampaignStats, CampaignStatsHour
from smspay_app.models.upload import PendingUpload

__all__ = [
    "ApiKey",
    "IdempotencyRecord",
    "WebhookDelivery",
    "WebhookEndpoint",
    "AuditLog",
    "AuthSession",
    "Campaign",
    "CampaignQuestion",
    "CampaignStats",
    "CampaignStatsHour",
    "Connection",
    "IdentityAnswer",
    "InboundMessage",
    "InvoiceLine",
    "Link",
    "OptOut",
    "Organisation",
    "Payment",
    "PendingUpload",
    "Recipient",
    "RecoveryCode",
    "RecipientImport",
    "SendAttempt",
    "SetupToken",
    "SharedLimitHit",
    "SharedLimitKey",
    "SignInChallenge",
    "SignupApplication",
    "SignInFailure",
    "TimelineEvent",
    "User",
    "WebhookEvent",
]
