require "minitest/autorun"
require "time_ago"

class JudgeTest < Minitest::Test
  def test_one_of_a_unit_is_singular
    assert_equal "1 second ago", TimeAgo.describe(1)
    assert_equal "1 minute ago", TimeAgo.describe(60)
    assert_equal "1 minute ago", TimeAgo.describe(119)
    assert_equal "1 hour ago", TimeAgo.describe(3600)
    assert_equal "1 day ago", TimeAgo.describe(86_400)
  end

  def test_more_are_plural
    assert_equal "2 minutes ago", TimeAgo.describe(120)
    assert_equal "3 hours ago", TimeAgo.describe(10_800)
    assert_equal "45 seconds ago", TimeAgo.describe(45.5)
  end

  def test_just_now
    assert_equal "just now", TimeAgo.describe(0)
  end
end
