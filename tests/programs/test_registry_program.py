"""The registry program executed by LiteSVM, with instructions built by anchorpy from the IDL."""

from __future__ import annotations

from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.system_program import TransferParams, transfer

from aggregator.chain import CONSUMER, PROSUMER, LocalChain, Registry, TxResult
from aggregator.chain.programs import from_label, meter_id_bytes
from tests.programs.conftest import CHAIN_TIME


def expect_error(result: TxResult, code: int, name: str) -> None:
    assert not result.ok, "transaction unexpectedly succeeded"
    assert (result.custom_code, result.error_name) == (code, name), result.logs


def unsigned(ix: Instruction, who: Pubkey) -> Instruction:
    """The same instruction with `who` no longer marked as a signer."""
    metas = [AccountMeta(m.pubkey, False if m.pubkey == who else m.is_signer, m.is_writable) for m in ix.accounts]
    return Instruction(ix.program_id, ix.data, metas)


def with_account(ix: Instruction, index: int, pubkey: Pubkey) -> Instruction:
    metas = list(ix.accounts)
    m = metas[index]
    metas[index] = AccountMeta(pubkey, m.is_signer, m.is_writable)
    return Instruction(ix.program_id, ix.data, metas)


def config(chain: LocalChain, registry: Registry):
    return registry.decode(chain.account(registry.config_address()).data)


# --- initialize ------------------------------------------------------------------------

def test_initialize_creates_config_and_emits_event(chain, registry, authority, oracle):
    result = chain.send([registry.initialize(authority.pubkey(), oracle.pubkey())], [authority])
    cfg = config(chain, registry)
    assert (cfg.authority, cfg.oracle_authority) == (authority.pubkey(), oracle.pubkey())
    assert (cfg.user_count, cfg.meter_count) == (0, 0)
    acc = chain.account(registry.config_address())
    assert acc.owner == registry.program_id
    assert acc.lamports == chain.svm.minimum_balance_for_rent_exemption(len(acc.data))
    (event,) = registry.program.decode_events(result.logs)
    assert event.name == "RegistryInitialized"
    assert event.data.oracle_authority == oracle.pubkey()


def test_initialize_twice_is_refused(initialized, registry, authority, oracle):
    again = initialized.send([registry.initialize(authority.pubkey(), oracle.pubkey())], [authority], check=False)
    expect_error(again, 6006, "AccountAlreadyExists")


def test_initialize_requires_the_authority_signature(chain, registry, authority, oracle):
    payer = chain.new_funded_keypair()
    ix = unsigned(registry.initialize(authority.pubkey(), oracle.pubkey()), authority.pubkey())
    expect_error(chain.send([ix], [payer], check=False), 6003, "MissingSignature")


def test_initialize_rejects_a_config_that_is_not_the_pda(chain, registry, authority, oracle):
    ix = with_account(registry.initialize(authority.pubkey(), oracle.pubkey()), 1, Keypair().pubkey())
    expect_error(chain.send([ix], [authority], check=False), 6005, "InvalidPda")


def test_initialize_rejects_a_fake_system_program(chain, registry, authority, oracle):
    ix = with_account(registry.initialize(authority.pubkey(), oracle.pubkey()), 2, Keypair().pubkey())
    expect_error(chain.send([ix], [authority], check=False), 6009, "InvalidSystemProgram")


# --- register_user -----------------------------------------------------------------------

def test_register_user_stores_the_wallet(initialized, registry):
    wallet = initialized.new_funded_keypair()
    result = initialized.send([registry.register_user(wallet.pubkey(), PROSUMER)], [wallet])
    user = registry.decode(initialized.account(registry.user_address(wallet.pubkey())).data)
    assert (user.wallet, user.user_type, user.status, user.meter_count) == (wallet.pubkey(), PROSUMER, 1, 0)
    assert user.registered_at == CHAIN_TIME
    assert config(initialized, registry).user_count == 1
    (event,) = registry.program.decode_events(result.logs)
    assert (event.name, event.data.wallet, event.data.user_type) == ("UserRegistered", wallet.pubkey(), PROSUMER)


def test_register_user_twice_is_refused(initialized, registry):
    wallet = initialized.new_funded_keypair()
    initialized.send([registry.register_user(wallet.pubkey(), CONSUMER)], [wallet])
    again = initialized.send([registry.register_user(wallet.pubkey(), CONSUMER)], [wallet], check=False)
    expect_error(again, 6006, "AccountAlreadyExists")
    assert config(initialized, registry).user_count == 1


def test_register_user_requires_the_wallet_signature(initialized, registry):
    wallet, payer = Keypair(), initialized.new_funded_keypair()
    ix = unsigned(registry.register_user(wallet.pubkey(), PROSUMER), wallet.pubkey())
    expect_error(initialized.send([ix], [payer], check=False), 6003, "MissingSignature")


def test_register_user_for_someone_elses_pda_is_refused(initialized, registry):
    wallet, victim = initialized.new_funded_keypair(), Keypair()
    ix = with_account(registry.register_user(wallet.pubkey(), PROSUMER), 2, registry.user_address(victim.pubkey()))
    expect_error(initialized.send([ix], [wallet], check=False), 6005, "InvalidPda")


def test_register_user_rejects_an_unknown_user_type(initialized, registry):
    wallet = initialized.new_funded_keypair()
    result = initialized.send([registry.register_user(wallet.pubkey(), 7)], [wallet], check=False)
    expect_error(result, 6100, "InvalidUserType")


def test_register_user_before_initialize_is_refused(chain, registry):
    wallet = chain.new_funded_keypair()
    result = chain.send([registry.register_user(wallet.pubkey(), PROSUMER)], [wallet], check=False)
    expect_error(result, 6007, "InvalidAccountOwner")


def test_a_prefunded_user_address_cannot_block_registration(initialized, registry):
    wallet, griefer = initialized.new_funded_keypair(), initialized.new_funded_keypair()
    dust = transfer(TransferParams(from_pubkey=griefer.pubkey(), to_pubkey=registry.user_address(wallet.pubkey()),
                                   lamports=1_000))
    initialized.send([dust], [griefer])
    initialized.send([registry.register_user(wallet.pubkey(), PROSUMER)], [wallet])
    acc = initialized.account(registry.user_address(wallet.pubkey()))
    assert acc.owner == registry.program_id
    assert acc.lamports == initialized.svm.minimum_balance_for_rent_exemption(len(acc.data))


# --- register_meter ------------------------------------------------------------------------

def _prosumer(chain: LocalChain, registry: Registry) -> Keypair:
    wallet = chain.new_funded_keypair()
    chain.send([registry.register_user(wallet.pubkey(), PROSUMER)], [wallet])
    return wallet


def test_register_meter_stores_the_device_key(initialized, registry):
    owner, device = _prosumer(initialized, registry), Keypair()
    ix = registry.register_meter(owner.pubkey(), "MTR-001", bytes(device.pubkey()), "TH-BKK-01")
    result = initialized.send([ix], [owner])
    meter = registry.decode(initialized.account(registry.meter_address("MTR-001")).data)
    assert bytes(meter.meter_id) == meter_id_bytes("MTR-001")
    assert (meter.owner, meter.device_key) == (owner.pubkey(), device.pubkey())
    assert (from_label(meter.location), meter.status, meter.registered_at) == ("TH-BKK-01", 1, CHAIN_TIME)
    assert (meter.total_production_wh, meter.settled_production_wh) == (0, 0)
    user = registry.decode(initialized.account(registry.user_address(owner.pubkey())).data)
    assert user.meter_count == 1
    assert config(initialized, registry).meter_count == 1
    (event,) = registry.program.decode_events(result.logs)
    assert (event.name, event.data.device_key) == ("MeterRegistered", device.pubkey())


def test_register_meter_twice_is_refused(initialized, registry):
    owner = _prosumer(initialized, registry)
    ix = registry.register_meter(owner.pubkey(), "MTR-002", bytes(32), "roof")
    initialized.send([ix], [owner])
    again = registry.register_meter(owner.pubkey(), "MTR-002", bytes(Keypair().pubkey()), "roof")
    expect_error(initialized.send([again], [owner], check=False), 6006, "AccountAlreadyExists")


def test_register_meter_needs_a_registered_owner(initialized, registry):
    stranger = initialized.new_funded_keypair()
    ix = registry.register_meter(stranger.pubkey(), "MTR-003", bytes(32), "roof")
    expect_error(initialized.send([ix], [stranger], check=False), 6101, "UserNotRegistered")


def test_a_consumer_cannot_register_a_minting_meter(initialized, registry):
    consumer = initialized.new_funded_keypair()
    initialized.send([registry.register_user(consumer.pubkey(), CONSUMER)], [consumer])
    ix = registry.register_meter(consumer.pubkey(), "MTR-C01", bytes(32), "flat")
    expect_error(initialized.send([ix], [consumer], check=False), 6111, "NotProsumer")
    assert initialized.account(registry.meter_address("MTR-C01")) is None


def test_register_meter_with_another_users_account_is_refused(initialized, registry):
    alice, mallory = _prosumer(initialized, registry), _prosumer(initialized, registry)
    ix = with_account(registry.register_meter(mallory.pubkey(), "MTR-004", bytes(32), "roof"), 2,
                      registry.user_address(alice.pubkey()))
    expect_error(initialized.send([ix], [mallory], check=False), 6101, "UserNotRegistered")


def test_register_meter_rejects_a_malformed_meter_id(initialized, registry):
    owner = _prosumer(initialized, registry)
    bad_id = list(b"MTR 005".ljust(32, b"\0"))  # a space is not a valid id character
    meter = registry.program.pda(b"meter", bytes(bad_id))
    ix = registry.program.ix("register_meter", bad_id, Keypair().pubkey(), [0] * 32, accounts={
        "owner": owner.pubkey(), "config": registry.config_address(), "user": registry.user_address(owner.pubkey()),
        "meter": meter, "system_program": Pubkey.default()})
    expect_error(initialized.send([ix], [owner], check=False), 6102, "InvalidMeterId")


def test_register_meter_requires_the_owner_signature(initialized, registry):
    owner, payer = _prosumer(initialized, registry), initialized.new_funded_keypair()
    ix = unsigned(registry.register_meter(owner.pubkey(), "MTR-006", bytes(32), "roof"), owner.pubkey())
    expect_error(initialized.send([ix], [payer], check=False), 6003, "MissingSignature")


# --- malformed instructions -------------------------------------------------------------------

def test_unknown_and_malformed_instructions_get_typed_errors(initialized, registry):
    payer = initialized.new_funded_keypair()
    pid = registry.program_id
    cases = [
        (Instruction(pid, b"", []), 6000, "UnknownInstruction"),
        (Instruction(pid, bytes(8), []), 6000, "UnknownInstruction"),
        (Instruction(pid, registry.register_user(payer.pubkey(), 0).data[:8], []), 6001, "InvalidInstructionData"),
        (Instruction(pid, registry.register_user(payer.pubkey(), 0).data, []), 6002, "NotEnoughAccounts"),
    ]
    for ix, code, name in cases:
        expect_error(initialized.send([ix], [payer], check=False), code, name)
