"""The sandbox broker's configuration: the activemq.xml (a DLQ per queue, the statistics plugin, STOMP and,
when keytool can make a certificate, STOMP over TLS), its log4j2 settings, and the jars the statistics plugin
needs. ``msgctl.sandbox`` starts and stops the broker on it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

STATS_JARS = ("xstream", "jettison", "xpp3")


def write_broker_config(base: Path, host: str, port: int) -> tuple[Path, Path] | None:
    """Write ``base/conf`` and link ``base/lib``: STOMP on ``port``, STOMP over TLS on ``port + 1``. Returns
    the TLS keystore and its CA PEM, or None without keytool (then there is no TLS connector)."""
    tls = _broker_certificate(base / "tls")
    ssl_context, ssl_connector = "", ""
    if tls is not None:
        ssl_context = SSL_CONTEXT_XML.format(keystore=tls[0], password=KEYSTORE_PASSWORD)
        ssl_connector = SSL_CONNECTOR_XML.format(host=host, port=port + 1)
    (base / "conf" / "activemq.xml").write_text(
        ACTIVEMQ_XML.format(host=host, port=port, ssl_context=ssl_context, ssl_connector=ssl_connector)
    )
    (base / "conf" / "log4j2.properties").write_text(LOG4J2)
    _link_stats_jars(base / "lib")
    return tls


def _broker_certificate(directory: Path) -> tuple[Path, Path] | None:
    """A self-signed certificate for 127.0.0.1 in a PKCS12 keystore, and its PEM (the CA to trust); None
    without keytool. Made once per sandbox directory."""
    keystore, pem = directory / "broker.p12", directory / "broker-ca.pem"
    if keystore.exists() and pem.exists():
        return keystore, pem
    keytool = shutil.which("keytool")
    if keytool is None:
        return None
    directory.mkdir(parents=True, exist_ok=True)
    common = ["-keystore", str(keystore), "-storepass", KEYSTORE_PASSWORD, "-storetype", "PKCS12"]
    key = ["-alias", "broker", "-keyalg", "RSA", "-keysize", "2048", "-validity", "3650"]
    name = ["-dname", "CN=msgctl sandbox broker", "-ext", "SAN=ip:127.0.0.1,dns:localhost"]
    subprocess.run([keytool, "-genkeypair", *key, *name, *common], check=True, capture_output=True)
    subprocess.run(
        [keytool, "-exportcert", "-rfc", "-alias", "broker", "-file", str(pem), *common],
        check=True,
        capture_output=True,
    )
    return keystore, pem


def _link_stats_jars(lib: Path) -> None:
    # The statistics plugin answers in XStream JSON; without these jars its replies are silently dropped.
    for name in STATS_JARS:
        source = Path("/usr/share/java") / f"{name}.jar"
        target = lib / f"{name}.jar"
        if source.exists() and not target.exists():
            target.symlink_to(source)


ACTIVEMQ_XML = """<beans xmlns="http://www.springframework.org/schema/beans"
  xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
  xsi:schemaLocation="http://www.springframework.org/schema/beans
    http://www.springframework.org/schema/beans/spring-beans-2.0.xsd
    http://activemq.apache.org/schema/core http://activemq.apache.org/schema/core/activemq-core.xsd">
  <!-- Resolves ${{activemq.data}} from the JVM's system properties. -->
  <bean class="org.springframework.beans.factory.config.PropertyPlaceholderConfigurer"/>
  <!-- Elements inside <broker> must stay in alphabetical order (the XSD says so). -->
  <broker xmlns="http://activemq.apache.org/schema/core" brokerName="msgctl-sandbox" useJmx="false"
          dataDirectory="${{activemq.data}}">
    <destinationPolicy>
      <policyMap>
        <policyEntries>
          <policyEntry queue=">">
            <deadLetterStrategy>
              <individualDeadLetterStrategy queuePrefix="DLQ." useQueueForQueueMessages="true"/>
            </deadLetterStrategy>
          </policyEntry>
        </policyEntries>
      </policyMap>
    </destinationPolicy>
    <persistenceAdapter>
      <kahaDB directory="${{activemq.data}}/kahadb"/>
    </persistenceAdapter>
    <plugins>
      <statisticsBrokerPlugin/>
    </plugins>{ssl_context}
    <systemUsage>
      <systemUsage>
        <storeUsage><storeUsage limit="2 gb"/></storeUsage>
        <tempUsage><tempUsage limit="1 gb"/></tempUsage>
      </systemUsage>
    </systemUsage>
    <transportConnectors>
      <transportConnector name="stomp" uri="stomp://{host}:{port}"/>{ssl_connector}
    </transportConnectors>
  </broker>
</beans>
"""

KEYSTORE_PASSWORD = "msgctl-sandbox"  # guards a throwaway certificate for 127.0.0.1, nothing else
SSL_CONTEXT_XML = """
    <sslContext>
      <sslContext keyStore="file:{keystore}" keyStorePassword="{password}" keyStoreType="PKCS12"/>
    </sslContext>"""
SSL_CONNECTOR_XML = """
      <transportConnector name="stomp+ssl" uri="stomp+ssl://{host}:{port}"/>"""

LOG4J2 = """rootLogger.level=INFO
rootLogger.appenderRef.console.ref=Console
appender.console.type=Console
appender.console.name=Console
appender.console.layout.type=PatternLayout
appender.console.layout.pattern=%d | %-5p | %m | %c%n
logger.spring.name=org.springframework
logger.spring.level=WARN
logger.xbean.name=org.apache.xbean
logger.xbean.level=WARN
"""
