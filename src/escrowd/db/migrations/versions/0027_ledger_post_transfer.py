"""PostgreSQL: ``ledger_post_transfer``, one plain transfer posted in one call (one round trip).

The ledger posts a single ``posted`` or ``pending`` transfer through this function on
PostgreSQL (``escrowd.ledger.pgstore``); SQLite has no stored functions and keeps the general
path. The function writes what the general path writes (the transfer, both accounts' figures
and versions, the debit entry then the credit entry) only when the transfer succeeds. When it
would be refused or the id is taken, it writes nothing and returns the reason; the service
then decides the transfer the general way (refusal with its message, replay, the failed id
recorded), so the rules that refuse keep one home. Input the service never sends (a kind
other than posted or pending, a non-positive amount, one account on both sides, a missing
field) raises ``invalid_parameter_value``: the function guards itself when called by hand.

Checks mirror ``escrowd.ledger.batch``: accounts locked in id order (``FOR NO KEY UPDATE``, as
every ledger statement locks them), both must exist and be in the transfer's currency, the
limits count pending amounts, and every figure stays within 64 bits (checked as numeric, so
an overflow is a refusal, not an error).

Revision ID: 0027
Revises: 0026
"""

from __future__ import annotations

from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None

FUNCTION = """
CREATE FUNCTION ledger_post_transfer(
    p_id text, p_kind text, p_debit text, p_credit text, p_amount bigint, p_currency text,
    p_batch_id text, p_reference text, p_category text, p_effective_at timestamptz,
    p_created_at timestamptz, p_payload_hash text
) RETURNS text
LANGUAGE plpgsql
AS $fn$
DECLARE
    max_balance CONSTANT numeric := 9223372036854775807;
    posted bigint;
    held bigint;
    d ledger_accounts%ROWTYPE;
    c ledger_accounts%ROWTYPE;
    d_dpe numeric; d_dpo numeric; c_cpe numeric; c_cpo numeric;
BEGIN
    IF p_kind IS NULL OR p_kind NOT IN ('posted', 'pending') THEN
        RAISE EXCEPTION 'ledger_post_transfer posts posted or pending transfers, not %', p_kind
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_amount IS NULL OR p_amount <= 0 THEN
        RAISE EXCEPTION 'transfer % must move a positive amount, not %', p_id, p_amount
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_id IS NULL OR p_debit IS NULL OR p_credit IS NULL OR p_currency IS NULL
       OR p_effective_at IS NULL OR p_created_at IS NULL OR p_payload_hash IS NULL THEN
        RAISE EXCEPTION 'transfer % lacks an id, an account, its currency, a time or its hash',
            p_id USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_debit = p_credit THEN
        RAISE EXCEPTION 'transfer % debits and credits the same account %', p_id, p_debit
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_kind = 'posted' THEN
        posted := p_amount; held := 0;
    ELSE
        posted := 0; held := p_amount;
    END IF;

    -- The id first, before waiting for any lock, as the batch statement sees it: an id that
    -- a transaction holding our accounts creates meanwhile then trips the primary key once
    -- we insert (id_in_flight: roll back, and the retry replays), as on every other path.
    IF EXISTS (SELECT FROM ledger_transfers WHERE id = p_id) THEN
        RETURN 'id_exists';
    END IF;
    IF EXISTS (SELECT FROM ledger_failed_transfers WHERE id = p_id) THEN
        RETURN 'id_already_failed';
    END IF;

    -- Lock in id order, as every ledger statement does, so transfers never deadlock.
    IF p_debit < p_credit THEN
        SELECT * INTO d FROM ledger_accounts WHERE id = p_debit FOR NO KEY UPDATE;
        SELECT * INTO c FROM ledger_accounts WHERE id = p_credit FOR NO KEY UPDATE;
    ELSE
        SELECT * INTO c FROM ledger_accounts WHERE id = p_credit FOR NO KEY UPDATE;
        SELECT * INTO d FROM ledger_accounts WHERE id = p_debit FOR NO KEY UPDATE;
    END IF;

    -- In the order escrowd.ledger.batch decides: the accounts, the currency, the limits.
    IF d.id IS NULL THEN
        RETURN 'debit_account_not_found';
    END IF;
    IF c.id IS NULL THEN
        RETURN 'credit_account_not_found';
    END IF;
    IF d.currency <> p_currency OR c.currency <> p_currency THEN
        RETURN 'currency_mismatch';
    END IF;
    d_dpe := d.debits_pending::numeric + held;
    d_dpo := d.debits_posted::numeric + posted;
    c_cpe := c.credits_pending::numeric + held;
    c_cpo := c.credits_posted::numeric + posted;
    IF (d.flags & 1) <> 0 AND d_dpe + d_dpo > d.credits_posted THEN
        RETURN 'exceeds_credits';
    END IF;
    IF (d.flags & 2) <> 0 AND d.credits_pending::numeric + d.credits_posted > d_dpo THEN
        RETURN 'exceeds_debits';
    END IF;
    IF greatest(d_dpe, d_dpo) > max_balance THEN
        RETURN 'overflows_balance';
    END IF;
    IF (c.flags & 1) <> 0 AND c.debits_pending::numeric + c.debits_posted > c_cpo THEN
        RETURN 'exceeds_credits';
    END IF;
    IF (c.flags & 2) <> 0 AND c_cpe + c_cpo > c.debits_posted THEN
        RETURN 'exceeds_debits';
    END IF;
    IF greatest(c_cpe, c_cpo) > max_balance THEN
        RETURN 'overflows_balance';
    END IF;

    INSERT INTO ledger_transfers (id, debit_account_id, credit_account_id, amount, currency,
                                  kind, pending_id, state, batch_id, reference, category,
                                  effective_at, created_at, payload_hash)
    VALUES (p_id, p_debit, p_credit, p_amount, p_currency, p_kind, NULL,
            CASE WHEN p_kind = 'pending' THEN 'pending' END, p_batch_id, p_reference,
            p_category, p_effective_at, p_created_at, p_payload_hash);
    UPDATE ledger_accounts
    SET debits_pending = d_dpe::bigint, debits_posted = d_dpo::bigint, version = d.version + 1
    WHERE id = p_debit;
    UPDATE ledger_accounts
    SET credits_pending = c_cpe::bigint, credits_posted = c_cpo::bigint, version = c.version + 1
    WHERE id = p_credit;
    -- Entries hold net figures (credits minus debits): a debit moves them down.
    INSERT INTO ledger_entries (transfer_id, account_id, side, amount, posted_before,
                                posted_after, pending_before, pending_after, version_after)
    VALUES (p_id, p_debit, 'debit', p_amount,
            d.credits_posted - d.debits_posted, d.credits_posted - d.debits_posted - posted,
            d.credits_pending - d.debits_pending, d.credits_pending - d.debits_pending - held,
            d.version + 1),
           (p_id, p_credit, 'credit', p_amount,
            c.credits_posted - c.debits_posted, c.credits_posted - c.debits_posted + posted,
            c.credits_pending - c.debits_pending, c.credits_pending - c.debits_pending + held,
            c.version + 1);
    RETURN 'ok';
END;
$fn$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(FUNCTION)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "DROP FUNCTION ledger_post_transfer(text, text, text, text, bigint, text, text, "
            "text, text, timestamptz, timestamptz, text)"
        )
