"""The energy_token program on its own: initialize, the batch checks of mint_from_production
and burn, every failure path with its exact error code. Minting through the registry is in
test_registry_settlement.py and test_registry_accounts.py."""

from __future__ import annotations

import pytest
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from spl.token.constants import TOKEN_PROGRAM_ID

from aggregator.chain import LocalChain, Registry, TxResult, mint_supply
from tests.programs.test_registry_accounts import readonly, with_data
from tests.programs.test_registry_program import expect_error, unsigned, with_account
from tests.programs.test_registry_settlement import balance, prosumer_with_meter, submit

SPL_INSUFFICIENT_FUNDS = 1  # spl_token::error::TokenError::InsufficientFunds
SPL_OWNER_MISMATCH = 4      # spl_token::error::TokenError::OwnerMismatch


def signers_of(ix: Instruction, *keypairs: Keypair) -> list[Keypair]:
    """The keypairs among `keypairs` that `ix` still asks to sign."""
    wanted = {m.pubkey for m in ix.accounts if m.is_signer}
    return [k for k in keypairs if k.pubkey() in wanted]


def expect_spl_error(result: TxResult, code: int) -> None:
    """A failure raised by SPL Token inside energy_token's CPI."""
    assert not result.ok, "transaction unexpectedly succeeded"
    assert result.custom_code == code, result.logs
    assert f"Program {TOKEN_PROGRAM_ID} failed: custom program error: {code:#x}" in result.logs, result.logs


# --- initialize --------------------------------------------------------------------------------

def test_initialize_creates_the_mint_and_config_and_emits_an_event(chain, token, authority):
    result = chain.send([token.initialize(authority.pubkey())], [authority])
    mint = chain.account(token.mint_address())
    assert mint.owner == TOKEN_PROGRAM_ID
    assert bytes(mint.data[4:36]) == bytes(token.mint_authority())  # COption::Some(mint authority)
    assert mint.data[44:46] == bytes([3, 1])  # decimals 3, initialized
    assert mint.data[46:50] == bytes(4)  # no freeze authority
    cfg = token.decode(chain.account(token.config_address()).data)
    assert (cfg.authority, cfg.mint, cfg.decimals) == (authority.pubkey(), token.mint_address(), 3)
    assert (cfg.total_minted_wh, cfg.total_burned_wh) == (0, 0)
    (event,) = token.program.decode_events(result.logs)
    assert (event.name, event.data.mint, event.data.decimals) == ("TokenInitialized", token.mint_address(), 3)


@pytest.mark.parametrize(("mutate", "code", "name"), [
    (lambda ix, a: unsigned(ix, a), 6003, "MissingSignature"),
    (lambda ix, a: readonly(ix, 0), 6004, "AccountNotWritable"),
    (lambda ix, a: readonly(ix, 1), 6004, "AccountNotWritable"),
    (lambda ix, a: readonly(ix, 2), 6004, "AccountNotWritable"),
    (lambda ix, a: with_account(ix, 1, Keypair().pubkey()), 6005, "InvalidPda"),
    (lambda ix, a: with_account(ix, 2, Keypair().pubkey()), 6101, "InvalidMint"),
    (lambda ix, a: with_account(ix, 3, Keypair().pubkey()), 6101, "InvalidMint"),
    (lambda ix, a: with_account(ix, 4, Keypair().pubkey()), 6103, "InvalidTokenProgram"),
    (lambda ix, a: with_account(ix, 5, Keypair().pubkey()), 6009, "InvalidSystemProgram"),
    (lambda ix, a: with_data(ix, ix.data + b"\0"), 6001, "InvalidInstructionData"),
    (lambda ix, a: Instruction(ix.program_id, ix.data, list(ix.accounts[:5])), 6002, "NotEnoughAccounts"),
], ids=["unsigned", "authority-ro", "config-ro", "mint-ro", "config-pda", "mint-pda", "mint-authority",
        "token-program", "system-program", "data-length", "accounts"])
def test_initialize_refusals(chain, token, authority, mutate, code, name):
    ix = mutate(token.initialize(authority.pubkey()), authority.pubkey())
    result = chain.send([ix], signers_of(ix, authority), payer=chain.new_funded_keypair(), check=False)
    expect_error(result, code, name)
    assert chain.account(token.mint_address()) is None
    assert chain.account(token.config_address()) is None


# --- mint_from_production: the batch shape is checked before anything else ----------------------------

def _mint_ix(token, amounts: list[int], destinations: int) -> Instruction:
    ix = token.program.ix("mint_from_production", amounts, accounts={
        "registry_minter": Registry().minter_address(), "config": token.config_address(), "mint": token.mint_address(),
        "mint_authority": token.mint_authority(), "token_program": TOKEN_PROGRAM_ID},
        remaining=[AccountMeta(Keypair().pubkey(), False, True) for _ in range(destinations)])
    # The minter is a PDA: only the registry can sign for it (inside settle_and_mint).
    return unsigned(ix, Registry().minter_address())


@pytest.mark.parametrize(("amounts", "destinations", "code", "name"), [
    ([], 0, 6102, "InvalidBatch"),
    ([1] * 17, 17, 6102, "InvalidBatch"),
    ([1, 2], 1, 6102, "InvalidBatch"),
    ([1], 2, 6102, "InvalidBatch"),
], ids=["empty", "seventeen", "fewer-destinations", "more-destinations"])
def test_mint_batch_shape_is_checked(initialized, token, amounts, destinations, code, name):
    payer = initialized.new_funded_keypair()
    expect_error(initialized.send([_mint_ix(token, amounts, destinations)], [payer], check=False), code, name)


def test_mint_data_must_hold_the_declared_amounts(initialized, token):
    payer = initialized.new_funded_keypair()
    ix = _mint_ix(token, [5, 6], 2)
    expect_error(initialized.send([with_data(ix, ix.data[:11])], [payer], check=False), 6001,
                 "InvalidInstructionData")  # shorter than discriminator + vector length
    expect_error(initialized.send([with_data(ix, ix.data[:-1])], [payer], check=False), 6102, "InvalidBatch")
    expect_error(initialized.send([with_data(ix, ix.data + bytes(8))], [payer], check=False), 6102, "InvalidBatch")
    assert mint_supply(initialized.account(token.mint_address()).data) == 0


def test_a_wallet_posing_as_the_minter_is_refused_even_when_it_signs(initialized, token):
    impostor = initialized.new_funded_keypair()
    ix = _mint_ix(token, [1_000], 1)
    metas = list(ix.accounts)
    metas[0] = AccountMeta(impostor.pubkey(), True, False)  # a wallet can sign, but is not the minter
    result = initialized.send([Instruction(ix.program_id, ix.data, metas)], [impostor], check=False)
    expect_error(result, 6100, "UnauthorizedMinter")


# --- burn -----------------------------------------------------------------------------------------------

@pytest.fixture
def holder(initialized: LocalChain, registry: Registry, oracle: Keypair) -> Keypair:
    """A meter owner holding 5,000 Wh of GRID."""
    owner = prosumer_with_meter(initialized, registry, "BURN")
    assert submit(initialized, registry, oracle, "BURN", 5_000, 0).ok
    initialized.send([registry.settle_and_mint([("BURN", owner.pubkey())])], [owner])
    return owner


@pytest.mark.parametrize(("mutate", "code", "name"), [
    (lambda ix, a: unsigned(ix, a), 6003, "MissingSignature"),
    (lambda ix, a: readonly(ix, 1), 6004, "AccountNotWritable"),
    (lambda ix, a: readonly(ix, 2), 6004, "AccountNotWritable"),
    (lambda ix, a: readonly(ix, 3), 6004, "AccountNotWritable"),
    (lambda ix, a: with_account(ix, 2, Keypair().pubkey()), 6005, "InvalidPda"),
    (lambda ix, a: with_account(ix, 3, Keypair().pubkey()), 6101, "InvalidMint"),
    (lambda ix, a: with_account(ix, 4, Keypair().pubkey()), 6103, "InvalidTokenProgram"),
    (lambda ix, a: with_data(ix, ix.data[:-1]), 6001, "InvalidInstructionData"),
    (lambda ix, a: Instruction(ix.program_id, ix.data, list(ix.accounts[:4])), 6002, "NotEnoughAccounts"),
], ids=["unsigned", "source-ro", "config-ro", "mint-ro", "config-pda", "mint", "token-program", "data-length",
        "accounts"])
def test_burn_refusals(initialized, registry, token, holder, mutate, code, name):
    ix = mutate(token.burn(holder.pubkey(), 1_000), holder.pubkey())
    result = initialized.send([ix], signers_of(ix, holder), payer=initialized.new_funded_keypair(), check=False)
    expect_error(result, code, name)
    assert balance(initialized, registry, holder) == 5_000
    assert token.decode(initialized.account(token.config_address()).data).total_burned_wh == 0


def test_burn_config_must_be_the_token_config(initialized, registry, token, holder):
    """The config address is checked first, so a registry account in its place is an InvalidPda."""
    ix = with_account(token.burn(holder.pubkey(), 1_000), 2, registry.config_address())
    expect_error(initialized.send([ix], [holder], check=False), 6005, "InvalidPda")


def test_burning_more_than_the_balance_fails_in_spl_token(initialized, registry, token, holder):
    expect_spl_error(initialized.send([token.burn(holder.pubkey(), 5_001)], [holder], check=False),
                     SPL_INSUFFICIENT_FUNDS)
    assert balance(initialized, registry, holder) == 5_000
    initialized.send([token.burn(holder.pubkey(), 5_000)], [holder])
    assert balance(initialized, registry, holder) == 0
    assert mint_supply(initialized.account(token.mint_address()).data) == 0


def test_nobody_burns_someone_elses_grid(initialized, registry, token, holder):
    thief = initialized.new_funded_keypair()
    ix = with_account(token.burn(thief.pubkey(), 1_000), 1, token.token_account(holder.pubkey()))
    expect_spl_error(initialized.send([ix], [thief], check=False), SPL_OWNER_MISMATCH)
    assert balance(initialized, registry, holder) == 5_000
