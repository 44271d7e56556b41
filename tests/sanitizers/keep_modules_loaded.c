/* LD_PRELOAD-ed into the sanitizer build's test processes: dlclose() does nothing, so the Vulkan
 * driver and layers the loader opened stay mapped until exit. LeakSanitizer runs at exit; without
 * this, a leak allocated inside a layer the loader already closed shows as "<unknown module>",
 * which no suppression can match and no one can read. Nothing in vkhalf depends on unloading. */
int dlclose(void* handle);

int dlclose(void* handle) {
    (void)handle;
    return 0;
}
