// `ca create`'s PKCS#11 options. The PIN comes from an environment variable or a file: there is no
// option that takes the PIN itself (it would sit in shell history and in the process list).
import { Option, type Command } from 'commander';
import type { Pkcs11KeyChoice } from '../ca/createPkcs11Ca.js';
import { AppError } from '../core/errors.js';

export interface Pkcs11Flags {
  pkcs11Module?: string;
  pkcs11Token?: string;
  pkcs11KeyLabel?: string;
  pkcs11PinEnv?: string;
  pkcs11PinFile?: string;
  pkcs11ExistingKey?: boolean;
}

export function addPkcs11Options(cmd: Command): Command {
  return cmd
    .addOption(new Option('--pkcs11-module <PATH>', 'keep the key in a PKCS#11 token: the module (shared library) to load'))
    .addOption(new Option('--pkcs11-token <LABEL>', 'the token, by its label'))
    .addOption(new Option('--pkcs11-key-label <LABEL>', 'the key\'s label in the token (generated there unless --pkcs11-existing-key)'))
    .addOption(new Option('--pkcs11-pin-env <VAR>', 'read the token\'s user PIN from this environment variable (the gateway reads it there too)'))
    .addOption(new Option('--pkcs11-pin-file <PATH>', 'read the token\'s user PIN from this file (the gateway reads it there too)').conflicts('pkcs11PinEnv'))
    .addOption(new Option('--pkcs11-existing-key', 'use the key already labelled --pkcs11-key-label (its type decides the key algorithm) instead of generating one'));
}

/** The token and key the options name, or null when the CA keeps a software key. */
export function pkcs11ChoiceOf(opts: Pkcs11Flags & { passphraseEnv?: string }): Pkcs11KeyChoice | null {
  const given = [opts.pkcs11Module, opts.pkcs11Token, opts.pkcs11KeyLabel, opts.pkcs11PinEnv, opts.pkcs11PinFile, opts.pkcs11ExistingKey].some((v) => v !== undefined);
  if (!given) return null;
  if (!opts.pkcs11Module || !opts.pkcs11Token || !opts.pkcs11KeyLabel) {
    throw new AppError('bad_request', 'a key in a PKCS#11 token needs --pkcs11-module, --pkcs11-token and --pkcs11-key-label');
  }
  if (!opts.pkcs11PinEnv && !opts.pkcs11PinFile) throw new AppError('bad_request', 'give the token\'s PIN with --pkcs11-pin-env VAR or --pkcs11-pin-file PATH (never on the command line)');
  if (opts.passphraseEnv) throw new AppError('bad_request', '--passphrase-env protects a software key: a key in a PKCS#11 token is protected by the token');
  return {
    module: opts.pkcs11Module,
    token: opts.pkcs11Token,
    keyLabel: opts.pkcs11KeyLabel,
    pin: opts.pkcs11PinEnv ? { env: opts.pkcs11PinEnv } : { file: opts.pkcs11PinFile as string },
    existingKey: !!opts.pkcs11ExistingKey,
  };
}
