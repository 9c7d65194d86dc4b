from gtx_trader.cli import run

run()
