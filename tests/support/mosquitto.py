"""The mosquitto launcher lives in tools.mosquitto (shared with the demo); re-exported
here for the tests and benches that import it from tests.support."""

from tools.mosquitto import BrokerTls, MosquittoBroker, MosquittoError, free_tcp_port, mqtt_ping

__all__ = ["BrokerTls", "MosquittoBroker", "MosquittoError", "free_tcp_port", "mqtt_ping"]
