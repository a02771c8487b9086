"""Small shared value types and vocabularies of the domain."""

from __future__ import annotations

from enum import StrEnum


class LegalForm(StrEnum):
    IDEELL_FORENING = "ideell_forening"
    STIFTELSE = "stiftelse"
    TROSSAMFUND = "trossamfund"
    EKONOMISK_FORENING = "ekonomisk_forening"
    AKTIEBOLAG = "aktiebolag"
    HANDELSBOLAG = "handelsbolag"
    ENSKILD_FIRMA = "enskild_firma"
    ANNAN = "annan"


# Forms an IOP can be signed with when the organisation has no profit motive
# (DOMAIN.md): ideell förening, stiftelse, trossamfund, ekonomisk förening
# (cooperative without profit motive) and "annan" (e.g. a social enterprise)
# for the officer to argue. Companies and sole traders never qualify.
IDEA_BASED_FORMS = frozenset(
    {
        LegalForm.IDEELL_FORENING,
        LegalForm.STIFTELSE,
        LegalForm.TROSSAMFUND,
        LegalForm.EKONOMISK_FORENING,
        LegalForm.ANNAN,
    }
)


class Verdict(StrEnum):
    MET = "met"
    NOT_MET = "not_met"
    NOT_APPLICABLE = "not_applicable"


class CriterionKind(StrEnum):
    ELIGIBILITY = "eligibility"
    REQUIRED = "required"
    CONSIDERATION = "consideration"


class Party(StrEnum):
    MUNICIPALITY = "municipality"
    ORGANISATION = "organisation"


class ContributionKind(StrEnum):
    MONEY = "money"
    STAFF_TIME = "staff_time"
    VOLUNTEER_HOURS = "volunteer_hours"
    PREMISES = "premises"
    KNOWLEDGE = "knowledge"
    OTHER = "other"


class StateAidBasis(StrEnum):
    NONE = "none"
    NON_ECONOMIC = "non_economic"
    DE_MINIMIS = "de_minimis"
    SGEI_DE_MINIMIS = "sgei_de_minimis"


class Initiator(StrEnum):
    ORGANISATION = "organisation"
    MUNICIPALITY = "municipality"


ROLES = frozenset({"registrar", "officer", "legal", "signatory", "coordinator", "auditor", "admin", "system"})
# The roles `iop role grant` gives: every role but the scheduler's own.
GRANTABLE_ROLES = ROLES - {"system"}


class DecisionSubject(StrEnum):
    """What a recorded decision decides: to enter or renew the agreement, or to end the running one."""

    AGREEMENT = "agreement"
    ENDING = "ending"


# terminated: by notice (uppsägning, the notice period has run); rescinded: for cause, at once (hävning).
END_REASONS = frozenset({"declined", "withdrawn", "completed", "not_renewed", "terminated", "rescinded", "expired"})
