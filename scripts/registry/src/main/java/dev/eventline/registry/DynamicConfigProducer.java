package dev.eventline.registry;

import io.apicurio.common.apps.config.DynamicConfigPropertyList;
import java.util.List;
import javax.enterprise.context.ApplicationScoped;
import javax.enterprise.inject.Produces;

/**
 * The bean Apicurio's config-index Quarkus extension would make at build time (that extension's
 * deployment module is not on Maven Central). An empty list: no property can be changed at run
 * time through the registry's admin API; every setting comes from the static configuration.
 */
@ApplicationScoped
public class DynamicConfigProducer {
  @Produces
  @ApplicationScoped
  DynamicConfigPropertyList dynamicConfigProperties() {
    return new DynamicConfigPropertyList(List.of());
  }
}
