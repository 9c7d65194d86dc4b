"""Every account check of the registry's instructions, each with its exact error code:
read-only accounts that must be writable, missing signatures, accounts of the wrong type,
addresses that are not the PDAs, and the accounts settle_and_mint forwards to energy_token."""

from __future__ import annotations

import pytest
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.system_program import CreateAccountParams, create_account
from spl.token.constants import TOKEN_PROGRAM_ID
from spl.token.instructions import InitializeAccountParams, InitializeMintParams, initialize_account, initialize_mint

from aggregator.chain import PROSUMER, LocalChain, Registry, TxResult, mint_supply
from aggregator.chain.programs import meter_id_bytes
from aggregator.chain.trading import create_lookup_table, send_v0, v0_transaction
from tests.programs.test_registry_program import expect_error, unsigned, with_account
from tests.programs.test_registry_settlement import T0, balance, meter, prosumer_with_meter, submit

PACKET_BYTES = 1232  # largest serialized transaction a validator accepts


def readonly(ix: Instruction, index: int) -> Instruction:
    """The same instruction with account `index` passed read-only."""
    metas = list(ix.accounts)
    m = metas[index]
    metas[index] = AccountMeta(m.pubkey, m.is_signer, False)
    return Instruction(ix.program_id, ix.data, metas)


def with_data(ix: Instruction, data: bytes) -> Instruction:
    return Instruction(ix.program_id, data, list(ix.accounts))


def expect_token_error(result: TxResult, registry: Registry, code: int, name: str) -> None:
    """A failure raised by energy_token inside settle_and_mint's CPI, named from its IDL."""
    assert not result.ok, "transaction unexpectedly succeeded"
    token_id = registry.token.program_id
    assert (result.custom_code, result.error_name) == (code, name), result.logs
    assert f"Program {token_id} failed: custom program error: {code:#x}" in result.logs, result.logs


# --- initialize ------------------------------------------------------------------------------

@pytest.mark.parametrize("index", [0, 1], ids=["authority", "config"])
def test_initialize_needs_writable_authority_and_config(chain, registry, authority, oracle, index):
    ix = readonly(registry.initialize(authority.pubkey(), oracle.pubkey()), index)
    expect_error(chain.send([ix], [authority], payer=chain.new_funded_keypair(), check=False),
                 6004, "AccountNotWritable")
    assert chain.account(registry.config_address()) is None


def test_initialize_checks_its_data_length(chain, registry, authority, oracle):
    ix = registry.initialize(authority.pubkey(), oracle.pubkey())
    for data in (ix.data[:-1], ix.data + b"\0"):
        expect_error(chain.send([with_data(ix, data)], [authority], check=False), 6001, "InvalidInstructionData")


# --- register_user ---------------------------------------------------------------------------

@pytest.mark.parametrize("index", [0, 1, 2], ids=["wallet", "config", "user"])
def test_register_user_needs_writable_accounts(initialized, registry, index):
    wallet = initialized.new_funded_keypair()
    ix = readonly(registry.register_user(wallet.pubkey(), PROSUMER), index)
    result = initialized.send([ix], [wallet], payer=initialized.new_funded_keypair(), check=False)
    expect_error(result, 6004, "AccountNotWritable")
    assert initialized.account(registry.user_address(wallet.pubkey())) is None


def test_register_user_rejects_a_fake_system_program(initialized, registry):
    wallet = initialized.new_funded_keypair()
    ix = with_account(registry.register_user(wallet.pubkey(), PROSUMER), 3, Keypair().pubkey())
    expect_error(initialized.send([ix], [wallet], check=False), 6009, "InvalidSystemProgram")


def test_register_user_rejects_a_registry_account_that_is_not_the_config(initialized, registry):
    other = initialized.new_funded_keypair()
    initialized.send([registry.register_user(other.pubkey(), PROSUMER)], [other])
    wallet = initialized.new_funded_keypair()
    ix = with_account(registry.register_user(wallet.pubkey(), PROSUMER), 1, registry.user_address(other.pubkey()))
    expect_error(initialized.send([ix], [wallet], check=False), 6008, "InvalidAccountData")


# --- register_meter --------------------------------------------------------------------------

def _prosumer(chain: LocalChain, registry: Registry) -> Keypair:
    wallet = chain.new_funded_keypair()
    chain.send([registry.register_user(wallet.pubkey(), PROSUMER)], [wallet])
    return wallet


@pytest.mark.parametrize("index", [0, 1, 2, 3], ids=["owner", "config", "user", "meter"])
def test_register_meter_needs_writable_accounts(initialized, registry, index):
    owner = _prosumer(initialized, registry)
    ix = readonly(registry.register_meter(owner.pubkey(), "RO-1", bytes(32), "roof"), index)
    result = initialized.send([ix], [owner], payer=initialized.new_funded_keypair(), check=False)
    expect_error(result, 6004, "AccountNotWritable")
    assert initialized.account(registry.meter_address("RO-1")) is None


def test_register_meter_rejects_an_address_that_is_not_the_meter_ids_pda(initialized, registry):
    owner = _prosumer(initialized, registry)
    ix = with_account(registry.register_meter(owner.pubkey(), "PDA-1", bytes(32), "roof"), 3,
                      registry.meter_address("PDA-2"))
    expect_error(initialized.send([ix], [owner], check=False), 6005, "InvalidPda")
    assert initialized.account(registry.meter_address("PDA-2")) is None


def test_register_meter_rejects_a_fake_system_program(initialized, registry):
    owner = _prosumer(initialized, registry)
    ix = with_account(registry.register_meter(owner.pubkey(), "SYS-1", bytes(32), "roof"), 4, Keypair().pubkey())
    expect_error(initialized.send([ix], [owner], check=False), 6009, "InvalidSystemProgram")


def test_register_meter_rejects_a_config_that_is_not_the_config(initialized, registry):
    owner = _prosumer(initialized, registry)
    ix = registry.register_meter(owner.pubkey(), "CFG-1", bytes(32), "roof")
    as_user = with_account(ix, 1, registry.user_address(owner.pubkey()))
    expect_error(initialized.send([as_user], [owner], check=False), 6008, "InvalidAccountData")
    as_wallet = with_account(ix, 1, Keypair().pubkey())
    expect_error(initialized.send([as_wallet], [owner], check=False), 6007, "InvalidAccountOwner")


def test_register_meter_needs_a_user_account_not_another_registry_account(initialized, registry):
    owner = _prosumer(initialized, registry)
    initialized.send([registry.register_meter(owner.pubkey(), "USR-1", bytes(32), "roof")], [owner])
    ix = with_account(registry.register_meter(owner.pubkey(), "USR-2", bytes(32), "roof"), 2,
                      registry.meter_address("USR-1"))
    expect_error(initialized.send([ix], [owner], check=False), 6101, "UserNotRegistered")


@pytest.mark.parametrize("raw", [bytes(32), b"AB\0C".ljust(32, b"\0"), b"\x7f".ljust(32, b"\0")],
                         ids=["empty", "gap-in-padding", "non-printable"])
def test_register_meter_rejects_malformed_ids(initialized, registry, raw):
    owner = _prosumer(initialized, registry)
    ix = registry.program.ix("register_meter", list(raw), Keypair().pubkey(), [0] * 32, accounts={
        "owner": owner.pubkey(), "config": registry.config_address(), "user": registry.user_address(owner.pubkey()),
        "meter": registry.program.pda(b"meter", raw), "system_program": Pubkey.default()})
    expect_error(initialized.send([ix], [owner], check=False), 6102, "InvalidMeterId")


def test_a_full_32_byte_meter_id_is_accepted(initialized, registry):
    owner, meter_id = _prosumer(initialized, registry), "M" * 32
    initialized.send([registry.register_meter(owner.pubkey(), meter_id, bytes(32), "roof")], [owner])
    assert bytes(meter(initialized, registry, meter_id).meter_id) == meter_id_bytes(meter_id)


# --- rotate_meter_key --------------------------------------------------------------------------

def test_rotate_meter_key_account_checks(initialized, registry):
    owner = prosumer_with_meter(initialized, registry, "RK1")
    ix = registry.rotate_meter_key(owner.pubkey(), "RK1", bytes(Keypair().pubkey()))
    payer = initialized.new_funded_keypair()
    expect_error(initialized.send([unsigned(ix, owner.pubkey())], [payer], check=False), 6003, "MissingSignature")
    expect_error(initialized.send([readonly(ix, 1)], [owner], check=False), 6004, "AccountNotWritable")
    not_a_meter = with_account(ix, 1, registry.user_address(owner.pubkey()))
    expect_error(initialized.send([not_a_meter], [owner], check=False), 6110, "UnknownMeter")
    foreign = with_account(ix, 1, registry.token.token_account(owner.pubkey()))
    expect_error(initialized.send([foreign], [owner], check=False), 6110, "UnknownMeter")
    expect_error(initialized.send([with_data(ix, ix.data[:-1])], [owner], check=False), 6001,
                 "InvalidInstructionData")
    expect_error(initialized.send([Instruction(ix.program_id, ix.data, list(ix.accounts[:1]))], [owner],
                                  check=False), 6002, "NotEnoughAccounts")
    assert bytes(meter(initialized, registry, "RK1").device_key) != bytes(Pubkey.from_bytes(ix.data[8:40]))


# --- deactivate_meter ----------------------------------------------------------------------------

def test_deactivate_emits_an_event_and_a_second_deactivation_is_refused(initialized, registry):
    owner = prosumer_with_meter(initialized, registry, "DA1")
    result = initialized.send([registry.deactivate_meter(owner.pubkey(), "DA1")], [owner])
    (event,) = registry.program.decode_events(result.logs)
    assert (event.name, bytes(event.data.meter_id), event.data.by) == (
        "MeterDeactivated", meter_id_bytes("DA1"), owner.pubkey())
    again = initialized.send([registry.deactivate_meter(owner.pubkey(), "DA1")], [owner], check=False)
    expect_error(again, 6103, "MeterInactive")


def test_deactivate_meter_account_checks(initialized, registry):
    owner = prosumer_with_meter(initialized, registry, "DA2")
    ix = registry.deactivate_meter(owner.pubkey(), "DA2")
    payer = initialized.new_funded_keypair()
    expect_error(initialized.send([unsigned(ix, owner.pubkey())], [payer], check=False), 6003, "MissingSignature")
    expect_error(initialized.send([readonly(ix, 2)], [owner], check=False), 6004, "AccountNotWritable")
    expect_error(initialized.send([with_account(ix, 1, registry.meter_address("DA2"))], [owner], check=False),
                 6008, "InvalidAccountData")
    expect_error(initialized.send([with_account(ix, 1, Keypair().pubkey())], [owner], check=False),
                 6007, "InvalidAccountOwner")
    not_a_meter = with_account(ix, 2, registry.user_address(owner.pubkey()))
    expect_error(initialized.send([not_a_meter], [owner], check=False), 6110, "UnknownMeter")
    assert meter(initialized, registry, "DA2").status == 1


# --- submit_readings -------------------------------------------------------------------------------

def test_submit_readings_account_checks(initialized, registry, oracle):
    owner = prosumer_with_meter(initialized, registry, "SR1")
    ix = registry.submit_readings(oracle.pubkey(), "SR1", 1_000, 0, T0)
    payer = initialized.new_funded_keypair()
    expect_error(initialized.send([unsigned(ix, oracle.pubkey())], [payer], check=False), 6003, "MissingSignature")
    expect_error(initialized.send([readonly(ix, 2)], [oracle], payer=payer, check=False), 6004, "AccountNotWritable")
    as_config = with_account(ix, 1, registry.user_address(owner.pubkey()))
    expect_error(initialized.send([as_config], [oracle], payer=payer, check=False), 6008, "InvalidAccountData")
    expect_error(initialized.send([with_data(ix, ix.data + b"\0")], [oracle], payer=payer, check=False),
                 6001, "InvalidInstructionData")
    assert meter(initialized, registry, "SR1").total_production_wh == 0


def test_unchanged_counters_may_be_resubmitted(initialized, registry, oracle):
    prosumer_with_meter(initialized, registry, "SR2")
    assert submit(initialized, registry, oracle, "SR2", 4_000, 1_000, T0 + 60).ok
    assert submit(initialized, registry, oracle, "SR2", 4_000, 1_000, T0 + 60).ok
    m = meter(initialized, registry, "SR2")
    assert (m.total_production_wh, m.total_consumption_wh, m.last_reading_at) == (4_000, 1_000, T0 + 60)


# --- settle_and_mint ---------------------------------------------------------------------------------

def test_settlement_needs_at_least_one_meter(initialized, registry):
    owner = prosumer_with_meter(initialized, registry, "Z1")
    ix = registry.settle_and_mint([("Z1", owner.pubkey())])
    fixed_only = Instruction(ix.program_id, ix.data, list(ix.accounts[:6]))
    expect_error(initialized.send([fixed_only], [owner], check=False), 6002, "NotEnoughAccounts")


def test_settlement_meter_and_destination_checks(initialized, registry, oracle):
    owner = prosumer_with_meter(initialized, registry, "Z2")
    assert submit(initialized, registry, oracle, "Z2", 3_000, 0).ok
    ix = registry.settle_and_mint([("Z2", owner.pubkey())])
    payer = initialized.new_funded_keypair()
    expect_error(initialized.send([readonly(ix, 6)], [payer], check=False), 6004, "AccountNotWritable")
    expect_error(initialized.send([readonly(ix, 7)], [payer], check=False), 6004, "AccountNotWritable")
    not_a_meter = with_account(ix, 6, registry.user_address(owner.pubkey()))
    expect_error(initialized.send([not_a_meter], [payer], check=False), 6110, "UnknownMeter")
    missing_ata = with_account(ix, 7, Keypair().pubkey())
    expect_error(initialized.send([missing_ata], [payer], check=False), 6107, "InvalidTokenAccount")
    assert meter(initialized, registry, "Z2").settled_production_wh == 0
    assert balance(initialized, registry, owner) == 0


def test_settlement_refuses_the_owners_account_of_another_mint(initialized, registry, oracle):
    owner = prosumer_with_meter(initialized, registry, "Z3")
    assert submit(initialized, registry, oracle, "Z3", 3_000, 0).ok
    other_mint, other_account = Keypair(), Keypair()
    svm = initialized.svm
    initialized.send([
        create_account(CreateAccountParams(from_pubkey=owner.pubkey(), to_pubkey=other_mint.pubkey(),
                                           lamports=svm.minimum_balance_for_rent_exemption(82), space=82,
                                           owner=TOKEN_PROGRAM_ID)),
        initialize_mint(InitializeMintParams(decimals=3, program_id=TOKEN_PROGRAM_ID, mint=other_mint.pubkey(),
                                             mint_authority=owner.pubkey())),
        create_account(CreateAccountParams(from_pubkey=owner.pubkey(), to_pubkey=other_account.pubkey(),
                                           lamports=svm.minimum_balance_for_rent_exemption(165), space=165,
                                           owner=TOKEN_PROGRAM_ID)),
        initialize_account(InitializeAccountParams(program_id=TOKEN_PROGRAM_ID, account=other_account.pubkey(),
                                                   mint=other_mint.pubkey(), owner=owner.pubkey())),
    ], [owner, other_mint, other_account])
    ix = with_account(registry.settle_and_mint([("Z3", owner.pubkey())]), 7, other_account.pubkey())
    expect_error(initialized.send([ix], [owner], check=False), 6107, "InvalidTokenAccount")


def test_a_failing_meter_undoes_the_whole_batch(initialized, registry, oracle):
    good, bad = (prosumer_with_meter(initialized, registry, m) for m in ("Z4", "Z5"))
    for m in ("Z4", "Z5"):
        assert submit(initialized, registry, oracle, m, 2_000, 0).ok
    ix = registry.settle_and_mint([("Z4", good.pubkey()), ("Z5", bad.pubkey())])
    broken = with_account(ix, 9, registry.token.token_account(good.pubkey()))  # Z5's GRID to Z4's owner
    expect_error(initialized.send([broken], [good], check=False), 6107, "InvalidTokenAccount")
    assert meter(initialized, registry, "Z4").settled_production_wh == 0
    assert balance(initialized, registry, good) == 0


def test_a_meter_listed_twice_in_one_batch_mints_once(initialized, registry, token, oracle):
    owner = prosumer_with_meter(initialized, registry, "Z6")
    assert submit(initialized, registry, oracle, "Z6", 6_000, 1_000).ok
    result = initialized.send([registry.settle_and_mint([("Z6", owner.pubkey())] * 2)], [owner])
    assert balance(initialized, registry, owner) == 6_000
    assert mint_supply(initialized.account(token.mint_address()).data) == 6_000
    assert [e.data.amount_wh for e in token.program.decode_events(result.logs)] == [6_000]


@pytest.mark.parametrize(("index", "code", "name"), [
    (1, 6005, "InvalidPda"),            # token config
    (2, 6101, "InvalidMint"),           # GRID mint
    (3, 6101, "InvalidMint"),           # mint authority
    (4, 6103, "InvalidTokenProgram"),   # SPL Token
], ids=["token-config", "mint", "mint-authority", "token-program"])
def test_forwarded_accounts_are_checked_by_energy_token(initialized, registry, token, oracle, index, code, name):
    owner = prosumer_with_meter(initialized, registry, "F1")
    assert submit(initialized, registry, oracle, "F1", 4_000, 0).ok
    ix = with_account(registry.settle_and_mint([("F1", owner.pubkey())]), index, Keypair().pubkey())
    expect_token_error(initialized.send([ix], [owner], check=False), registry, code, name)
    assert meter(initialized, registry, "F1").settled_production_wh == 0
    assert mint_supply(initialized.account(token.mint_address()).data) == 0


def test_sixteen_meters_settle_in_one_v0_transaction(initialized, registry, oracle):
    """The program's cap of 16 meters per call fits one packet with an address lookup table."""
    ids = [f"N{i:02d}" for i in range(16)]
    owners = {m: prosumer_with_meter(initialized, registry, m) for m in ids}
    for k, m in enumerate(ids):
        assert submit(initialized, registry, oracle, m, 1_000 * (k + 1), 0).ok
    ix = registry.settle_and_mint([(m, owners[m].pubkey()) for m in ids])
    payer = initialized.new_funded_keypair()
    table = create_lookup_table(initialized, payer, [m.pubkey for m in ix.accounts])
    assert len(bytes(v0_transaction(initialized, [ix], [payer], [table]))) <= PACKET_BYTES
    result = send_v0(initialized, [ix], [payer], [table])
    assert [balance(initialized, registry, owners[m]) for m in ids] == [1_000 * (k + 1) for k in range(16)]
    assert len(registry.program.decode_events(result.logs)) == 16
    assert result.compute_units <= 16 * 10_000
