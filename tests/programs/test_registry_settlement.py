"""Readings, settlement and GRID minting: registry -> energy_token -> SPL Token, in LiteSVM."""

from __future__ import annotations

from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from spl.token.constants import TOKEN_PROGRAM_ID

from aggregator.chain import PROSUMER, LocalChain, Registry, mint_supply, token_amount
from tests.programs.test_registry_program import expect_error, with_account

T0 = 1_767_225_600


def prosumer_with_meter(chain: LocalChain, registry: Registry, meter_id: str) -> Keypair:
    wallet = chain.new_funded_keypair()
    chain.send([registry.register_user(wallet.pubkey(), PROSUMER),
                registry.register_meter(wallet.pubkey(), meter_id, bytes(Keypair().pubkey()), "roof"),
                registry.token.create_token_account(wallet.pubkey(), wallet.pubkey())], [wallet])
    return wallet


def meter(chain: LocalChain, registry: Registry, meter_id: str):
    return registry.decode(chain.account(registry.meter_address(meter_id)).data)


def balance(chain: LocalChain, registry: Registry, owner: Keypair) -> int:
    return token_amount(chain.account(registry.token.token_account(owner.pubkey())).data)


def submit(chain, registry, oracle, meter_id, production_wh, consumption_wh, at=T0):
    return chain.send([registry.submit_readings(oracle.pubkey(), meter_id, production_wh, consumption_wh, at)],
                      [oracle], payer=chain.new_funded_keypair(), check=False)


# --- submit_readings -----------------------------------------------------------------------

def test_submit_readings_records_counters(initialized, registry, oracle):
    prosumer_with_meter(initialized, registry, "M1")
    result = submit(initialized, registry, oracle, "M1", 12_000, 4_000, T0 + 300)
    assert result.ok, result.logs
    m = meter(initialized, registry, "M1")
    assert (m.total_production_wh, m.total_consumption_wh, m.last_reading_at) == (12_000, 4_000, T0 + 300)
    (event,) = registry.program.decode_events(result.logs)
    assert (event.name, event.data.production_wh) == ("ReadingsSubmitted", 12_000)


def test_only_the_oracle_submits_readings(initialized, registry):
    prosumer_with_meter(initialized, registry, "M2")
    expect_error(submit(initialized, registry, Keypair(), "M2", 1, 0), 6010, "Unauthorized")


def test_counters_never_decrease(initialized, registry, oracle):
    prosumer_with_meter(initialized, registry, "M3")
    assert submit(initialized, registry, oracle, "M3", 5_000, 1_000).ok
    expect_error(submit(initialized, registry, oracle, "M3", 4_999, 1_000), 6104, "CounterDecreased")
    expect_error(submit(initialized, registry, oracle, "M3", 5_000, 999), 6104, "CounterDecreased")


def test_readings_cannot_go_back_in_time(initialized, registry, oracle):
    prosumer_with_meter(initialized, registry, "M4")
    assert submit(initialized, registry, oracle, "M4", 10, 0, T0 + 600).ok
    expect_error(submit(initialized, registry, oracle, "M4", 20, 0, T0 + 599), 6105, "StaleReading")


def test_readings_for_a_non_meter_account_are_refused(initialized, registry, oracle):
    wallet = prosumer_with_meter(initialized, registry, "M5")
    ix = with_account(registry.submit_readings(oracle.pubkey(), "M5", 1, 0, T0), 2,
                      registry.user_address(wallet.pubkey()))
    result = initialized.send([ix], [oracle], payer=initialized.new_funded_keypair(), check=False)
    expect_error(result, 6110, "UnknownMeter")


# --- settle_and_mint --------------------------------------------------------------------------

def test_settlement_mints_exported_energy_once(initialized, registry, token, oracle):
    owner = prosumer_with_meter(initialized, registry, "S1")
    assert submit(initialized, registry, oracle, "S1", 15_000, 10_000).ok  # imports are not netted
    payer = initialized.new_funded_keypair()
    result = initialized.send([registry.settle_and_mint([("S1", owner.pubkey())])], [payer])
    assert balance(initialized, registry, owner) == 15_000  # 15 kWh = 15 GRID (3 decimals)
    assert meter(initialized, registry, "S1").settled_production_wh == 15_000
    assert mint_supply(initialized.account(token.mint_address()).data) == 15_000
    assert token.decode(initialized.account(token.config_address()).data).total_minted_wh == 15_000
    assert [e.name for e in registry.program.decode_events(result.logs)] == ["ProductionSettled"]
    (minted,) = token.program.decode_events(result.logs)
    assert (minted.name, minted.data.amount_wh) == ("TokensMinted", 15_000)

    again = initialized.send([registry.settle_and_mint([("S1", owner.pubkey())])], [payer])
    assert again.ok and token.program.decode_events(again.logs) == []
    assert balance(initialized, registry, owner) == 15_000


def test_only_new_production_is_minted_whatever_the_grouping(initialized, registry, oracle):
    owner = prosumer_with_meter(initialized, registry, "S2")
    settle = registry.settle_and_mint([("S2", owner.pubkey())])
    payer = initialized.new_funded_keypair()
    assert submit(initialized, registry, oracle, "S2", 8_000, 3_000).ok
    initialized.send([settle], [payer])
    assert submit(initialized, registry, oracle, "S2", 8_000, 9_000, T0 + 1).ok  # an evening import
    initialized.send([settle], [payer])
    assert balance(initialized, registry, owner) == 8_000
    assert submit(initialized, registry, oracle, "S2", 20_000, 9_000, T0 + 2).ok
    initialized.send([settle], [payer])
    assert balance(initialized, registry, owner) == 20_000
    assert meter(initialized, registry, "S2").settled_production_wh == 20_000
    # The same counters settled once, on a twin meter: the same GRID.
    twin = prosumer_with_meter(initialized, registry, "S2-twin")
    assert submit(initialized, registry, oracle, "S2-twin", 20_000, 9_000, T0 + 2).ok
    initialized.send([registry.settle_and_mint([("S2-twin", twin.pubkey())])], [payer])
    assert balance(initialized, registry, twin) == 20_000


def test_a_batch_settles_several_meters(initialized, registry, oracle):
    owners = {mid: prosumer_with_meter(initialized, registry, mid) for mid in ("B1", "B2", "B3")}
    for mid, prod in (("B1", 1_000), ("B2", 0), ("B3", 7_500)):
        assert submit(initialized, registry, oracle, mid, prod, 0).ok
    initialized.send([registry.settle_and_mint([(m, o.pubkey()) for m, o in owners.items()])],
                     [initialized.new_funded_keypair()])
    assert [balance(initialized, registry, owners[m]) for m in ("B1", "B2", "B3")] == [1_000, 0, 7_500]


def test_grid_only_goes_to_the_meter_owner(initialized, registry, oracle):
    owner = prosumer_with_meter(initialized, registry, "S3")
    thief = prosumer_with_meter(initialized, registry, "S4")
    assert submit(initialized, registry, oracle, "S3", 9_000, 0).ok
    result = initialized.send([registry.settle_and_mint([("S3", thief.pubkey())])], [thief], check=False)
    expect_error(result, 6107, "InvalidTokenAccount")
    assert balance(initialized, registry, owner) == 0


def test_settlement_argument_errors(initialized, registry):
    owner = prosumer_with_meter(initialized, registry, "S5")
    payer = initialized.new_funded_keypair()
    ix = registry.settle_and_mint([("S5", owner.pubkey())])
    too_many = Instruction(ix.program_id, ix.data, list(ix.accounts) + list(ix.accounts[6:]) * 16)
    expect_error(initialized.send([too_many], [payer], check=False), 6109, "TooManyMeters")
    odd = Instruction(ix.program_id, ix.data, list(ix.accounts[:7]))
    expect_error(initialized.send([odd], [payer], check=False), 6002, "NotEnoughAccounts")
    fake_token_program = with_account(ix, 5, Keypair().pubkey())
    expect_error(initialized.send([fake_token_program], [payer], check=False), 6108, "InvalidEnergyTokenProgram")
    fake_minter = with_account(ix, 0, Keypair().pubkey())
    expect_error(initialized.send([fake_minter], [payer], check=False), 6005, "InvalidPda")


def test_nobody_but_the_registry_can_mint(initialized, registry, token):
    attacker = prosumer_with_meter(initialized, registry, "S6")
    dest = token.token_account(attacker.pubkey())
    for minter, signers in ((registry.minter_address(), [attacker]), (attacker.pubkey(), [attacker])):
        ix = token.program.ix("mint_from_production", [1_000_000], accounts={
            "registry_minter": minter, "config": token.config_address(), "mint": token.mint_address(),
            "mint_authority": token.mint_authority(), "token_program": TOKEN_PROGRAM_ID},
            remaining=[AccountMeta(dest, False, True)])
        if minter != attacker.pubkey():  # a PDA cannot sign a top-level transaction
            ix = Instruction(ix.program_id, ix.data,
                             [AccountMeta(m.pubkey, False, m.is_writable) for m in ix.accounts])
        expect_error(initialized.send([ix], signers, check=False), 6100, "UnauthorizedMinter")
    assert balance(initialized, registry, attacker) == 0


# --- meter lifecycle ----------------------------------------------------------------------------

def test_rotate_meter_key(initialized, registry):
    owner = prosumer_with_meter(initialized, registry, "K1")
    new_key = bytes(Keypair().pubkey())
    result = initialized.send([registry.rotate_meter_key(owner.pubkey(), "K1", new_key)], [owner])
    assert bytes(meter(initialized, registry, "K1").device_key) == new_key
    assert [e.name for e in registry.program.decode_events(result.logs)] == ["MeterKeyRotated"]
    stranger = initialized.new_funded_keypair()
    result = initialized.send([registry.rotate_meter_key(stranger.pubkey(), "K1", bytes(32))], [stranger], check=False)
    expect_error(result, 6106, "NotMeterOwner")


def test_deactivated_meter_takes_no_readings_but_settles(initialized, registry, oracle, authority):
    owner = prosumer_with_meter(initialized, registry, "D1")
    assert submit(initialized, registry, oracle, "D1", 2_000, 0).ok
    stranger = initialized.new_funded_keypair()
    expect_error(initialized.send([registry.deactivate_meter(stranger.pubkey(), "D1")], [stranger], check=False),
                 6010, "Unauthorized")
    initialized.send([registry.deactivate_meter(owner.pubkey(), "D1")], [owner])
    assert meter(initialized, registry, "D1").status == 0
    expect_error(submit(initialized, registry, oracle, "D1", 3_000, 0, T0 + 1), 6103, "MeterInactive")
    expect_error(initialized.send([registry.rotate_meter_key(owner.pubkey(), "D1", bytes(32))], [owner], check=False),
                 6103, "MeterInactive")
    initialized.send([registry.settle_and_mint([("D1", owner.pubkey())])], [owner])
    assert balance(initialized, registry, owner) == 2_000
    prosumer_with_meter(initialized, registry, "D2")
    initialized.send([registry.deactivate_meter(authority.pubkey(), "D2")], [authority])
    assert meter(initialized, registry, "D2").status == 0


# --- energy_token ---------------------------------------------------------------------------------

def test_burn_reduces_supply_and_records_it(initialized, registry, token, oracle):
    owner = prosumer_with_meter(initialized, registry, "E1")
    assert submit(initialized, registry, oracle, "E1", 5_000, 0).ok
    initialized.send([registry.settle_and_mint([("E1", owner.pubkey())])], [owner])
    result = initialized.send([token.burn(owner.pubkey(), 1_500)], [owner])
    assert balance(initialized, registry, owner) == 3_500
    assert mint_supply(initialized.account(token.mint_address()).data) == 3_500
    assert token.decode(initialized.account(token.config_address()).data).total_burned_wh == 1_500
    assert [e.name for e in token.program.decode_events(result.logs)] == ["TokensBurned"]
    expect_error(initialized.send([token.burn(owner.pubkey(), 0)], [owner], check=False), 6104, "ZeroAmount")
    over = initialized.send([token.burn(owner.pubkey(), 10_000)], [owner], check=False)
    assert not over.ok and balance(initialized, registry, owner) == 3_500


def test_energy_token_initializes_once_with_three_decimals(initialized, token, authority):
    mint = initialized.account(token.mint_address())
    assert mint.owner == TOKEN_PROGRAM_ID and mint.data[44] == 3  # decimals
    again = initialized.send([token.initialize(authority.pubkey())], [authority], check=False)
    expect_error(again, 6006, "AccountAlreadyExists")


# --- settlement credited to User accounts, claim_production --------------------------------------

def unclaimed(chain: LocalChain, registry: Registry, owner: Keypair) -> int:
    return registry.decode(chain.account(registry.user_address(owner.pubkey())).data).unclaimed_wh


def test_settlement_into_user_accounts_mints_on_claim_once(initialized, registry, token, oracle):
    owners = {mid: prosumer_with_meter(initialized, registry, mid) for mid in ("U1", "U2")}
    payer = initialized.new_funded_keypair()
    assert submit(initialized, registry, oracle, "U1", 4_000, 1_000).ok
    assert submit(initialized, registry, oracle, "U2", 6_500, 0).ok
    batch = registry.settle_and_mint([(m, o.pubkey()) for m, o in owners.items()], to_user_account=True)
    result = initialized.send([batch], [payer])
    # settled and credited in place: no token CPI, no GRID yet
    assert token.program.decode_events(result.logs) == []
    assert [e.data.minted_wh for e in registry.program.decode_events(result.logs)] == [4_000, 6_500]
    assert [unclaimed(initialized, registry, o) for o in owners.values()] == [4_000, 6_500]
    assert mint_supply(initialized.account(token.mint_address()).data) == 0
    # a repeated settlement credits nothing new; later production adds up before a claim
    initialized.send([batch], [payer])
    assert submit(initialized, registry, oracle, "U1", 5_000, 1_000, T0 + 1).ok
    initialized.send([batch], [payer])
    assert unclaimed(initialized, registry, owners["U1"]) == 5_000
    # anyone may claim for the wallet: GRID goes to the wallet's own token account, once
    claim = registry.claim_production(owners["U1"].pubkey())
    claimed = initialized.send([claim], [payer])
    (event,) = registry.program.decode_events(claimed.logs)
    assert (event.name, event.data.minted_wh) == ("ProductionClaimed", 5_000)
    assert balance(initialized, registry, owners["U1"]) == 5_000
    assert unclaimed(initialized, registry, owners["U1"]) == 0
    again = initialized.send([claim], [payer])
    assert again.ok and token.program.decode_events(again.logs) == []
    assert balance(initialized, registry, owners["U1"]) == 5_000
    assert token.decode(initialized.account(token.config_address()).data).total_minted_wh == 5_000
    # both destinations mixed in one batch: the second owner's GRID minted now, nothing credited twice
    assert submit(initialized, registry, oracle, "U2", 7_000, 0, T0 + 1).ok
    initialized.send([registry.settle_and_mint([("U2", owners["U2"].pubkey())])], [payer])
    assert balance(initialized, registry, owners["U2"]) == 500
    assert unclaimed(initialized, registry, owners["U2"]) == 6_500


def test_settlement_credits_only_the_meter_owners_user_account(initialized, registry, oracle):
    owner = prosumer_with_meter(initialized, registry, "U3")
    thief = prosumer_with_meter(initialized, registry, "U4")
    assert submit(initialized, registry, oracle, "U3", 9_000, 0).ok
    payer = initialized.new_funded_keypair()
    stolen = registry.settle_and_mint([("U3", thief.pubkey())], to_user_account=True)
    expect_error(initialized.send([stolen], [payer], check=False), 6107, "InvalidTokenAccount")
    # a registry account that is not a User (another meter) is refused too
    ix = with_account(registry.settle_and_mint([("U3", owner.pubkey())], to_user_account=True), 7,
                      registry.meter_address("U4"))
    expect_error(initialized.send([ix], [payer], check=False), 6107, "InvalidTokenAccount")
    assert unclaimed(initialized, registry, thief) == 0 and unclaimed(initialized, registry, owner) == 0


def test_claim_pays_only_the_wallets_token_account(initialized, registry, oracle):
    owner = prosumer_with_meter(initialized, registry, "U5")
    thief = prosumer_with_meter(initialized, registry, "U6")
    assert submit(initialized, registry, oracle, "U5", 3_000, 0).ok
    payer = initialized.new_funded_keypair()
    initialized.send([registry.settle_and_mint([("U5", owner.pubkey())], to_user_account=True)], [payer])
    ix = with_account(registry.claim_production(owner.pubkey()), 1, registry.token.token_account(thief.pubkey()))
    expect_error(initialized.send([ix], [thief], check=False), 6107, "InvalidTokenAccount")
    not_a_user = with_account(registry.claim_production(owner.pubkey()), 0, registry.meter_address("U5"))
    expect_error(initialized.send([not_a_user], [thief], check=False), 6101, "UserNotRegistered")
    assert unclaimed(initialized, registry, owner) == 3_000
    assert balance(initialized, registry, thief) == 0
