// A shared library without the modelslim_plugin_info entry symbol.
extern "C" __attribute__((visibility("default"))) int not_a_modelslim_plugin() {
  return 42;
}
