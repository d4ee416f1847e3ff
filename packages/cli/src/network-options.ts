import { Option } from "commander";
import { multiaddrList } from "./option-parsers.js";

/**
 * `--bootstrap`, or OPENGATEWAY_BOOTSTRAP (addresses separated by commas or spaces), or the config's
 * `bootstrap`, in that order; with none of them a command joins through its region's built-in list.
 */
export const bootstrapOption = (description = "peers to join the network through (default: the region's built-in list)") =>
  new Option("--bootstrap <multiaddr...>", description).env("OPENGATEWAY_BOOTSTRAP").argParser(multiaddrList("--bootstrap"));

/** mDNS is on unless `--no-mdns`, OPENGATEWAY_NO_MDNS (set to anything) or the config's `mdns: false` turns it off. */
export const mdnsOption = () =>
  new Option("--no-mdns", "do not find (or answer) peers on the LAN with mDNS multicast").env("OPENGATEWAY_NO_MDNS");
