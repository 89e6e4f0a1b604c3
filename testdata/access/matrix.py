#!/usr/bin/env python3
"""Generate testdata/access/matrix.tsv: what the default access policy allows.

The expectations are derived from docs/access.md, the default policy file
(internal/access/default-policy.json) and the fixture described in
testdata/access/README.md -- not from the Go implementation, and not from
running Hestia. Each concern of docs/access.md ("What decides", "Break-the-glass",
"Answers that reveal nothing") is one function below; `decide` combines them.

Run from anywhere:  python3 testdata/access/matrix.py
"""

import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
POLICY_FILE = os.path.join(ROOT, "internal", "access", "default-policy.json")
OUT_FILE = os.path.join(HERE, "matrix.tsv")

# --------------------------------------------------------------------------
# The matrix dimensions (README)
# --------------------------------------------------------------------------

ROLES = ["clinician", "nurse", "registration", "billing", "researcher",
         "auditor", "admin", "patient", "service"]
STATES = ["rel", "enc", "gp", "oldenc", "unrel", "consent-deny", "consent-obs",
          "vip", "psy", "own", "btg"]
TARGETS = ["Patient", "Observation", "Condition", "Coverage", "Claim"]
TENANT_TARGETS = ["Practitioner", "Organization"]
INTERACTIONS = ["read", "search", "create", "update"]

# docs/access.md, "Role permissions": SMART v2 letters per interaction.
LETTER = {"read": "r", "search": "s", "create": "c", "update": "u"}
WRITES = {"create", "update"}

# --------------------------------------------------------------------------
# Principals (README "Principals")
# --------------------------------------------------------------------------

# role -> (Practitioner of the account or None, scope context, scope permissions on "*")
PRINCIPALS = {
    "clinician":    {"practitioner": "dr", "scope": "user",    "scope_perms": "cruds"},
    "nurse":        {"practitioner": "rn", "scope": "user",    "scope_perms": "cruds"},
    "registration": {"practitioner": None, "scope": "user",    "scope_perms": "cruds"},
    "billing":      {"practitioner": None, "scope": "user",    "scope_perms": "cruds"},
    "researcher":   {"practitioner": None, "scope": "user",    "scope_perms": "cruds"},
    "auditor":      {"practitioner": None, "scope": "user",    "scope_perms": "cruds"},
    "admin":        {"practitioner": None, "scope": "user",    "scope_perms": "cruds"},
    # The patient role's account is the patient of state `own` (fhirUser and
    # token launch patient); its token holds patient/*.cruds.
    "patient":      {"practitioner": None, "scope": "patient", "scope_perms": "cruds",
                     "launch_patient": "own"},
    "service":      {"practitioner": None, "scope": "system",  "scope_perms": "cruds"},
}

# --------------------------------------------------------------------------
# Patient states (README "States")
# --------------------------------------------------------------------------

RELATED_TO_DR_AND_RN = {"dr", "rn"}

STATES_FACTS = {
    # related: the Practitioners with a treatment relationship (docs §4).
    "rel":          {"related": RELATED_TO_DR_AND_RN},              # active CareTeam
    "enc":          {"related": RELATED_TO_DR_AND_RN},              # in-progress Encounter
    "gp":           {"related": RELATED_TO_DR_AND_RN},              # generalPractitioner
    # Encounter ended 60 days ago, relationship.encounterDays is 30: NOT related.
    "oldenc":       {"related": set()},
    "unrel":        {"related": set()},
    "consent-deny": {"related": RELATED_TO_DR_AND_RN,
                     # provision deny, no conditions: the base decision is deny, every class.
                     "consent_deny_classes": "*"},
    "consent-obs":  {"related": RELATED_TO_DR_AND_RN,
                     # permit, nested deny of class Observation.
                     "consent_deny_classes": {"Observation"}},
    "vip":          {"related": RELATED_TO_DR_AND_RN, "patient_labels": {"V"}},
    "psy":          {"related": RELATED_TO_DR_AND_RN,
                     "resource_labels": {"Observation": {"PSY"}}},
    # The patient role's own record; dr and rn are not related to it.
    "own":          {"related": set()},
    # Like unrel (a fresh patient per row), the request carries X-Break-Glass-Reason.
    "btg":          {"related": set(), "break_glass_header": True},
}

# README "Line format": the search each row sends.
SEARCH_PARAM = {
    "Patient": "_id",          # Patient?_id={id}
    "Observation": "patient",  # Observation?patient={id}
    "Condition": "patient",
    "Coverage": "beneficiary",  # Coverage?beneficiary=...
    "Claim": "patient",
}

# docs/access.md "Break-the-glass": "for a search the one patient it names
# (`patient=`, `subject=Patient/…`, or `Patient?_id=`)".
# READING (literal): that list is taken as exhaustive, so `Coverage?beneficiary=`
# names no patient for break-the-glass and the search gets no grant: the
# Coverage stays hidden. Add "beneficiary" here if the docs are meant to cover
# every compartment parameter.
BREAK_GLASS_SEARCH_PARAMS = {"patient", "subject", "_id"}

NEW_PATIENT = "new"  # the compartment of a Patient being created


def load_policy():
    with open(POLICY_FILE, encoding="utf-8") as f:
        return json.load(f)


POLICY = load_policy()


def role_policy(role):
    return POLICY["roles"][role]


def facts(state):
    return STATES_FACTS.get(state, {})


# --------------------------------------------------------------------------
# 1 + 2. Type level: role grants ∩ SMART scopes
# --------------------------------------------------------------------------

def role_grants(role, rtype):
    """Permission letters the role grants on the type ("*" grants every type)."""
    grants = role_policy(role).get("grants", {})
    return grants.get(rtype, "") + grants.get("*", "")


def scope_grants(role, rtype):
    """Permission letters the token's scopes grant on the type (all tokens hold <ctx>/*.cruds)."""
    return PRINCIPALS[role]["scope_perms"]


def type_permitted(role, rtype, interaction):
    """docs §1-2: role permissions ∩ SMART scopes. Refusal here is 403 for every
    interaction, searches included ("Answers that reveal nothing", first bullet)."""
    letter = LETTER[interaction]
    return letter in role_grants(role, rtype) and letter in scope_grants(role, rtype)


# --------------------------------------------------------------------------
# 3 + 4. Patient reach and treatment relationship
# --------------------------------------------------------------------------

def reach(role):
    return role_policy(role).get("patients", "none")


def restricted(role):
    """docs "Answers that reveal nothing": a principal limited by patient
    (`related`, `own`, `patient/` scopes) answers 403 for what it may not see."""
    return reach(role) in ("related", "own") or PRINCIPALS[role]["scope"] == "patient"


def compartment(state, target, interaction):
    """The patient compartment the request touches.

    A created Patient is a brand-new patient: its own compartment, related to
    no one, with no labels. Any other created resource belongs to the state's
    patient. Reads, searches and updates touch the state's patient."""
    if target == "Patient" and interaction == "create":
        return NEW_PATIENT
    return state


def related(role, comp):
    """docs §4: a user naming a Practitioner is related to a patient through
    CareTeam, a recent Encounter, generalPractitioner or an organization rule
    (the default policy has no organization rules). A new patient is related
    to no one (README: its `link` names none, nothing else names anyone)."""
    practitioner = PRINCIPALS[role]["practitioner"]
    if practitioner is None or comp == NEW_PATIENT:
        return False
    return practitioner in facts(comp).get("related", set())


def reaches(role, comp):
    """docs §3 + the patient/ scope of §2."""
    r = reach(role)
    if PRINCIPALS[role]["scope"] == "patient" and comp != PRINCIPALS[role].get("launch_patient"):
        return False  # a patient/ scope limits the request to the launch patient
    if r == "all":
        return True
    if r == "related":
        return related(role, comp)
    if r == "own":
        return comp == PRINCIPALS[role].get("launch_patient")
    return False  # "none": no patient data


# --------------------------------------------------------------------------
# 5. Security labels
# --------------------------------------------------------------------------

def patient_labels(comp):
    """Labels on the compartment's Patient: they hide the whole compartment,
    for writes as well as reads (labels are not consent).

    READING: the README's `create` posts "a new resource of that type" and says
    nothing about labels, so a created Observation in state `psy` carries no PSY,
    and a created Patient (any state, `vip` included) carries no V."""
    if comp == NEW_PATIENT:
        return set()
    return set(facts(comp).get("patient_labels", set()))


def resource_labels(state, target, interaction):
    """Labels on the resource itself: they hide that resource. An update rewrites
    the existing resource, so its current labels count; a created one has none."""
    if interaction == "create":
        return set()
    return set(facts(state).get("resource_labels", {}).get(target, set()))


def labels_permitted(role, state, target, interaction):
    """docs §5: a role sees a labelled resource/compartment only if it lists every
    label (`"*"` = all). Labels are not consent: they apply to writes too."""
    comp = compartment(state, target, interaction)
    needed = patient_labels(comp) | resource_labels(state, target, interaction)
    allowed = set(role_policy(role).get("labels", []))
    if "*" in allowed:
        return True
    return needed <= allowed


# --------------------------------------------------------------------------
# 6. Consent
# --------------------------------------------------------------------------

def consent_permits(role, state, target, interaction):
    """docs §6: consents decide disclosure on every read and search; they do not
    limit writes; a patient is never kept from their own record; a role with
    `consentExempt` is not limited (the default policy exempts no one, so
    service, registration and billing are limited as well).

    The fixture's consents carry no actor, purpose or period condition, so the
    role's `purpose` does not change the outcome here."""
    if interaction in WRITES:
        return True
    if role_policy(role).get("consentExempt", False):
        return True
    comp = compartment(state, target, interaction)
    if PRINCIPALS[role].get("launch_patient") == comp:
        return True  # the patient's own record
    denied = facts(comp).get("consent_deny_classes")
    if denied is None:
        return True  # consent.default "permit"
    if denied == "*":
        return False
    return target not in denied


# --------------------------------------------------------------------------
# Break-the-glass
# --------------------------------------------------------------------------

def break_glass(role, state, target, interaction):
    """docs "Break-the-glass": a role with `breakGlass` refused for want of a
    relationship may repeat a read or search with the header; writes never break
    the glass. For a search the patient must be named by one of the listed
    parameters (see BREAK_GLASS_SEARCH_PARAMS). For roles without breakGlass the
    header changes nothing. It replaces only the relationship: labels and consent
    still apply (the btg patient has neither)."""
    if not role_policy(role).get("breakGlass", False):
        return False
    if not facts(state).get("break_glass_header", False):
        return False
    if interaction in WRITES:
        return False
    if reach(role) != "related":
        return False
    if interaction == "search" and SEARCH_PARAM[target] not in BREAK_GLASS_SEARCH_PARAMS:
        return False
    return True


# --------------------------------------------------------------------------
# Answers that reveal nothing
# --------------------------------------------------------------------------

def allowed_answer(interaction):
    return {"read": "200", "search": "found", "create": "201", "update": "200"}[interaction]


def refused_by_type():
    return "403"  # before any data is read, for every interaction


def refused_at_data_level(role, interaction):
    """Refused by relationship, label or consent."""
    if interaction == "search":
        return "hidden"  # searches apply the policy inside the query: 200, not in the Bundle
    if interaction in WRITES:
        return "403"     # writes refused at data level are always 403
    # read: restricted principals cannot tell hidden from absent: 403;
    # all-reach principals get 404, like a resource that does not exist.
    return "403" if restricted(role) else "404"


# --------------------------------------------------------------------------
# The decision
# --------------------------------------------------------------------------

def decide(role, state, target, interaction):
    if not type_permitted(role, target, interaction):
        return refused_by_type()
    if target in TENANT_TARGETS:
        # In no patient compartment: only the type-level grant matters, whatever
        # the reach ("none" included).
        # READING: this includes the patient role with patient/ scopes: docs §3
        # keeps resources in no compartment "reachable by type", and a patient/
        # scope limits only which patient compartment a request may touch.
        return allowed_answer(interaction)
    comp = compartment(state, target, interaction)
    in_reach = reaches(role, comp) or break_glass(role, state, target, interaction)
    if not in_reach:
        return refused_at_data_level(role, interaction)
    if not labels_permitted(role, state, target, interaction):
        return refused_at_data_level(role, interaction)
    if not consent_permits(role, state, target, interaction):
        return refused_at_data_level(role, interaction)
    return allowed_answer(interaction)


# --------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------

HEADER = """\
# Authorization matrix of the default access policy.
#
# What the default policy (internal/access/default-policy.json, explained in
# docs/access.md) allows, one request per row, for the fixture described in
# testdata/access/README.md. internal/server/access_matrix_test.go runs every
# row against the HTTP API.
#
# Format: role<TAB>state<TAB>target<TAB>interaction<TAB>expect; `#` lines are comments.
#   state:       rel enc gp oldenc unrel consent-deny consent-obs vip psy own btg, or `-` for
#                tenant targets (Practitioner, Organization: in no patient compartment)
#   interaction: read (GET /T/id), search (GET /T?patient=…, Patient?_id=, Coverage?beneficiary=,
#                T?_id= for tenant types), create (POST /T), update (PUT /T/id, unchanged)
#   expect:      read/create/update: HTTP status 200, 201, 403 or 404;
#                search: found (200, in the Bundle), hidden (200, not in it) or 403
#
# Generated by matrix.py from docs/access.md and the default policy; do not edit
# by hand: edit matrix.py and run `python3 testdata/access/matrix.py`.
"""


def role_comment(role):
    p = role_policy(role)
    grants = p.get("grants", {})
    g = ", ".join(f"{t}:{v}" for t, v in grants.items()) or "nothing"
    parts = [f"patients={p.get('patients', 'none')}", f"grants {g}",
             f"labels={','.join(p.get('labels', [])) or '-'}",
             f"breakGlass={'yes' if p.get('breakGlass') else 'no'}",
             f"scopes {PRINCIPALS[role]['scope']}/*.{PRINCIPALS[role]['scope_perms']}"]
    return f"# ---- {role}: " + "; ".join(parts)


def rows():
    for role in ROLES:
        yield role_comment(role)
        for state in STATES:
            for target in TARGETS:
                for interaction in INTERACTIONS:
                    yield "\t".join([role, state, target, interaction,
                                     decide(role, state, target, interaction)])
        yield f"# {role}: tenant types (no patient compartment)"
        for target in TENANT_TARGETS:
            for interaction in INTERACTIONS:
                yield "\t".join([role, "-", target, interaction,
                                 decide(role, "-", target, interaction)])


def main():
    lines = list(rows())
    with open(OUT_FILE, "w", encoding="utf-8") as f:
        f.write(HEADER)
        for line in lines:
            f.write(line + "\n")
    data = [l for l in lines if not l.startswith("#")]
    counts = {}
    for l in data:
        e = l.split("\t")[-1]
        counts[e] = counts.get(e, 0) + 1
    print(f"wrote {OUT_FILE}: {len(data)} rows",
          ", ".join(f"{k}={v}" for k, v in sorted(counts.items())))


if __name__ == "__main__":
    main()
