#!lua name=lessor_acl_v1
-- lessor_acl_v1: which of the commands a front node sends the calling Redis user may not run.
-- `lessor serve` calls it on every primary when it first reaches Redis, so a least-privilege
-- user that lacks one permission stops start-up with a message naming it, instead of a 500
-- (or a silently dead subscription) later. It reads and writes no key.
--
-- A library of its own, not part of lessor_vN: releases that change the lease library do not
-- reload this one back and forth, and its version changes only when this file does.
--
-- denied: FCALL lessor_acl_v1_denied 0 <n> <word>... [<n> <word>...]...
--   ARGV: commands, each as its word count followed by its words: the command (and
--   subcommand) with keys, channels and arguments shaped as Lessor sends them.
--   Reply: an array of the commands, words joined by spaces, that the user may not run
--   (key and channel permissions included); 'unknown: <words>' for a command this server
--   does not have. Empty: everything is allowed.
--   redis-cli --user lessor --pass ... FCALL lessor_acl_v1_denied 0 3 HSET lessor:{x}:k f 1 PSUBSCRIBE 'lessor:*:wakeup'
redis.register_function{function_name = 'lessor_acl_v1_denied', flags = { 'no-writes', 'allow-stale' }, callback = function(keys, args)
  local denied = {}
  local index = 1
  while index <= #args do
    local count = tonumber(args[index])
    local words = {}
    for offset = 1, count do words[offset] = args[index + offset] end
    local known, allowed = pcall(redis.acl_check_cmd, unpack(words))
    if not known then
      denied[#denied + 1] = 'unknown: ' .. table.concat(words, ' ')
    elseif not allowed then
      denied[#denied + 1] = table.concat(words, ' ')
    end
    index = index + count + 1
  end
  return denied
end}
